-- Review queue workflow, reports with weights, appeals, crisis workflow, audit log.

ALTER TABLE posts ADD COLUMN received_at timestamptz NOT NULL DEFAULT now();

-- Every version moderation has seen: the edit history a moderator reads.
CREATE TABLE post_versions (
    post_id     uuid        NOT NULL,
    version     integer     NOT NULL,
    title       text,
    body        text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, version)
);
INSERT INTO post_versions (post_id, version, title, body) SELECT post_id, version, title, body FROM posts;

ALTER TABLE queue_items
    ADD COLUMN claimed_by    uuid,
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN resolution    text,
    ADD COLUMN resolved_at   timestamptz,
    ADD COLUMN top_score     double precision NOT NULL DEFAULT 0,
    ADD COLUMN report_weight double precision NOT NULL DEFAULT 0,
    ADD COLUMN hidden_by_reports boolean NOT NULL DEFAULT false;
DROP INDEX queue_open;
CREATE INDEX queue_order ON queue_items (status, priority DESC, top_score DESC, report_weight DESC, created_at, id);

-- Reports: weight at filing time (the reporter's standing), and what became of them.
ALTER TABLE reports
    ADD COLUMN weight      double precision NOT NULL DEFAULT 1.0,
    ADD COLUMN outcome     text CHECK (outcome IN ('upheld', 'dismissed')),
    ADD COLUMN resolved_at timestamptz;
CREATE INDEX reports_reporter ON reports (reporter_id, outcome);

CREATE TABLE appeals (
    appeal_id   uuid PRIMARY KEY,
    post_id     uuid        NOT NULL,
    author_id   uuid        NOT NULL,
    note        text,
    decision    jsonb       NOT NULL,  -- the decision appealed against, as it was
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- What moderation knows of each member's record.
CREATE TABLE user_records (
    user_id          uuid PRIMARY KEY,
    warnings         integer     NOT NULL DEFAULT 0,
    suspensions      integer     NOT NULL DEFAULT 0,
    suspended_until  timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE moderator_notes (
    id            uuid PRIMARY KEY,
    queue_item_id uuid        NOT NULL REFERENCES queue_items (id),
    author_id     uuid        NOT NULL,
    note          text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE escalations
    ADD COLUMN tier       integer NOT NULL DEFAULT 1,
    ADD COLUMN page_count integer NOT NULL DEFAULT 0,
    ADD COLUMN overdue    boolean NOT NULL DEFAULT false;
CREATE INDEX escalations_due ON escalations (next_page_at) WHERE status = 'open';

CREATE TABLE escalation_notes (
    id             uuid PRIMARY KEY,
    escalation_id  uuid        NOT NULL REFERENCES escalations (id),
    author_id      uuid        NOT NULL,
    note           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Append-only audit log. No code path updates or deletes it, and the trigger
-- below makes the database refuse it for every role, the service's included.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid,
    actor_role  text        NOT NULL,
    action      text        NOT NULL,
    subject     text        NOT NULL,
    reason      text,
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_actor ON audit_log (actor_id, id);
CREATE INDEX audit_subject ON audit_log (subject, id);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
