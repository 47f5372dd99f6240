-- moderation's own copy of each post's latest version (no service reads another's tables).
CREATE TABLE posts (
    post_id     uuid PRIMARY KEY,
    thread_id   uuid        NOT NULL,
    community   text        NOT NULL,
    author_id   uuid        NOT NULL,
    version     integer     NOT NULL,
    title       text,
    body        text        NOT NULL,
    deleted     boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One decision per post version: a re-delivered or re-emitted post is decided once.
CREATE TABLE decisions (
    id              uuid PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    post_id         uuid        NOT NULL,
    version         integer     NOT NULL,
    author_id       uuid        NOT NULL,
    community       text        NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('published', 'held', 'removed')),
    reasons         jsonb       NOT NULL,
    signals         jsonb       NOT NULL,
    scores          jsonb       NOT NULL,
    policy_version  text        NOT NULL,
    model           text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (post_id, version)
);

-- One escalation per post. Timers (next_page_at) live here so they survive restarts.
CREATE TABLE escalations (
    id               uuid PRIMARY KEY,
    post_id          uuid        NOT NULL UNIQUE,
    post_version     integer     NOT NULL,
    author_id        uuid        NOT NULL,
    community        text        NOT NULL,
    level            text        NOT NULL CHECK (level IN ('watch', 'high', 'imminent')),
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    evidence         jsonb       NOT NULL,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    next_page_at     timestamptz,
    acknowledged_at  timestamptz,
    acknowledged_by  uuid,
    resolved_at      timestamptz,
    outcome          text
);
CREATE INDEX escalations_open ON escalations (status, opened_at);

-- The review queue: one item per post; reasons from ML, policy and reports merge into it.
CREATE TABLE queue_items (
    id          uuid PRIMARY KEY,
    post_id     uuid        NOT NULL UNIQUE,
    community   text        NOT NULL,
    author_id   uuid        NOT NULL,
    status      text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    priority    integer     NOT NULL,
    reasons     jsonb       NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queue_open ON queue_items (status, priority DESC, created_at);

CREATE TABLE reports (
    report_id     uuid PRIMARY KEY,
    post_id       uuid        NOT NULL,
    reporter_id   uuid        NOT NULL,
    reason        text        NOT NULL,
    note          text,
    post_version  integer     NOT NULL,
    body_snapshot text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (post_id, reporter_id)
);
