-- Retention (services/common/retention.py) deletes inbox rows by age, oldest first, in batches:
-- this index makes each batch read only the rows it deletes instead of scanning the whole inbox.
CREATE INDEX inbox_applied ON inbox (applied_at);
