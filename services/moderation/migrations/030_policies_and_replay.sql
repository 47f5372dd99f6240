-- Policy documents per community, versioned (issue 3). A community's effective policy is the
-- shipped default (or POLICY_FILE), then the latest '*' document, then its own latest document
-- merged on top. Rows are never updated: a change is a new version, so every decision's
-- policy_version can be read back here.
CREATE TABLE policies (
    community   text        NOT NULL CHECK (length(community) BETWEEN 1 AND 100),  -- a forum slug, or '*'
    version     text        NOT NULL CHECK (length(version) BETWEEN 1 AND 64),
    document    jsonb       NOT NULL CHECK (jsonb_typeof(document) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by  text,
    PRIMARY KEY (community, version)
);
CREATE INDEX policies_latest ON policies (community, created_at DESC);

-- Replay reads post versions by the time moderation received them.
CREATE INDEX post_versions_received ON post_versions (received_at);
