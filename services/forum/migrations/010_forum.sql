CREATE TABLE users (
    id              uuid PRIMARY KEY,
    handle          text        NOT NULL,
    password_hash   text        NOT NULL,
    role            text        NOT NULL CHECK (role IN ('member', 'moderator', 'crisis_staff', 'admin')),
    email           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    suspended_until timestamptz,
    deleted_at      timestamptz
);
CREATE UNIQUE INDEX users_handle ON users (lower(handle));

-- Refresh tokens are stored as SHA-256 digests: a leaked table grants nothing,
-- and a lookup by digest leaks no timing information about the token itself.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE TABLE communities (
    id          uuid PRIMARY KEY,
    slug        text        NOT NULL UNIQUE,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE threads (
    id            uuid PRIMARY KEY,
    community_id  uuid        NOT NULL REFERENCES communities (id),
    author_id     uuid        NOT NULL REFERENCES users (id),
    title         text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX threads_community ON threads (community_id, created_at DESC);

-- status: pending until moderation decides; decided_version is the version the
-- current status was decided for (a decision for an older version is stale).
CREATE TABLE posts (
    id               uuid PRIMARY KEY,
    thread_id        uuid        NOT NULL REFERENCES threads (id),
    author_id        uuid        NOT NULL REFERENCES users (id),
    is_opening       boolean     NOT NULL,
    body             text        NOT NULL,
    version          integer     NOT NULL DEFAULT 1,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'published', 'held', 'removed', 'deleted')),
    status_reasons   jsonb       NOT NULL DEFAULT '[]',
    decided_version  integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_emitted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posts_thread ON posts (thread_id, created_at);
CREATE INDEX posts_pending ON posts (last_emitted_at) WHERE status = 'pending';

CREATE TABLE post_revisions (
    post_id    uuid        NOT NULL REFERENCES posts (id),
    version    integer     NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, version)
);

-- One report per account per post: repeats do not add weight.
CREATE TABLE reports (
    id            uuid PRIMARY KEY,
    post_id       uuid        NOT NULL REFERENCES posts (id),
    reporter_id   uuid        NOT NULL REFERENCES users (id),
    reason        text        NOT NULL,
    note          text,
    post_version  integer     NOT NULL,
    body_snapshot text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (post_id, reporter_id)
);
