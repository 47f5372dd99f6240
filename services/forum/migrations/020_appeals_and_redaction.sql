-- One appeal per removal (per post version that was removed).
CREATE TABLE appeals (
    id          uuid PRIMARY KEY,
    post_id     uuid        NOT NULL REFERENCES posts (id),
    version     integer     NOT NULL,
    author_id   uuid        NOT NULL REFERENCES users (id),
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (post_id, version)
);

-- A redaction replaces the body; the original stays in post_revisions for audit.
ALTER TABLE posts ADD COLUMN redacted_at timestamptz;

-- Moderation actions applied, by action id (an action re-delivered applies once).
ALTER TABLE users ADD COLUMN warnings integer NOT NULL DEFAULT 0;
