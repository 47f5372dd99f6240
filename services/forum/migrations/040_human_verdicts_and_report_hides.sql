-- Issue 24 (items 3 and 4).
-- reviewed_version: the post version a moderator last changed the status of (approve, dismiss, remove,
-- redact). An automated decision for that version or an older one never overrides it: decisions and
-- actions travel on different topics, so the machine's verdict may reach forum after the human's.
-- hidden_by_reports: members' reports crossed the hide threshold. It survives edits and automated
-- decisions (a "published" decision leaves the post held) until a moderator acts on the post.
ALTER TABLE posts
    ADD COLUMN reviewed_version  integer,
    ADD COLUMN hidden_by_reports boolean NOT NULL DEFAULT false;
UPDATE posts SET hidden_by_reports = true
WHERE status = 'held' AND status_reasons @> '[{"code": "reports"}]'::jsonb;
