-- Escalations follow the post. A post used to have at most one escalation, ever; now it has at
-- most one that is not resolved (open or acknowledged). An edit that raises the crisis level
-- upgrades that one; after it is resolved, a crisis in a NEWER post version opens another.
--
-- covered_version: the newest post version whose crisis signal this escalation has taken in
-- (opened with, upgraded by, or seen at the same or a lower level while it was not resolved).
-- A crisis signal for a version no newer than every escalation's covered_version was already
-- handled, so a redelivered or replayed event never opens a second escalation.
-- upgraded_at: when the level was last raised (null if never); an upgrade that pages starts a
-- new paging cycle, so "open too long" counts from it.

ALTER TABLE escalations DROP CONSTRAINT escalations_post_id_key;

ALTER TABLE escalations
    ADD COLUMN covered_version integer,
    ADD COLUMN upgraded_at     timestamptz;
UPDATE escalations SET covered_version = post_version;
ALTER TABLE escalations ALTER COLUMN covered_version SET NOT NULL;

-- One live escalation per post; open_escalation's INSERT ... ON CONFLICT names this predicate.
CREATE UNIQUE INDEX escalations_one_live_per_post ON escalations (post_id) WHERE status <> 'resolved';
-- A post's escalations, newest coverage first (the "already handled?" check).
CREATE INDEX escalations_by_post ON escalations (post_id, covered_version DESC);
