-- Channels: live stream positions, read state, preferences, the crisis rota, webhooks,
-- and deliveries (one per notification, channel and target: delivered once per channel).

-- The stream position. Inserts take an advisory lock (see store.py), so positions
-- become visible in order: a reconnecting client that sends Last-Event-ID misses nothing.
ALTER TABLE notifications ADD COLUMN seq bigserial;
ALTER TABLE notifications ADD CONSTRAINT notifications_seq UNIQUE (seq);
ALTER TABLE notifications ADD COLUMN category text NOT NULL DEFAULT 'other';
ALTER TABLE notifications ADD COLUMN tier integer NOT NULL DEFAULT 1;

-- Read state per user (role notifications are shared rows): single reads plus a mark.
CREATE TABLE reads (
    user_id          uuid NOT NULL,
    notification_id  uuid NOT NULL REFERENCES notifications (id),
    read_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, notification_id)
);
CREATE TABLE read_marks (
    user_id           uuid PRIMARY KEY,
    read_through_seq  bigint NOT NULL
);

-- A member's own choices. The e-mail address is theirs to give here, for the
-- notifications they ask for; nothing else uses it.
CREATE TABLE preferences (
    user_id      uuid PRIMARY KEY,
    role         text        NOT NULL,
    email        text,
    channels     jsonb       NOT NULL DEFAULT '{}',   -- category -> ["email", "webhook"]
    quiet_start  smallint CHECK (quiet_start BETWEEN 0 AND 23),  -- UTC hour
    quiet_end    smallint CHECK (quiet_end BETWEEN 0 AND 23),
    digest       boolean     NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX preferences_role ON preferences (role) WHERE email IS NOT NULL;

-- Who is on the crisis rota, and in which tier (tier 2 is paged from the second miss).
CREATE TABLE rota (
    user_id     uuid PRIMARY KEY,
    tier        integer     NOT NULL CHECK (tier IN (1, 2)),
    on_rota     boolean     NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_endpoints (
    id                    uuid PRIMARY KEY,
    owner_user            uuid,
    owner_role            text,
    url                   text        NOT NULL,
    secret                text        NOT NULL,
    enabled               boolean     NOT NULL DEFAULT true,
    consecutive_failures  integer     NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    disabled_at           timestamptz,
    CHECK ((owner_user IS NULL) <> (owner_role IS NULL))
);

CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    channel          text        NOT NULL CHECK (channel IN ('webhook', 'email')),
    target           text        NOT NULL,   -- webhook endpoint id, or e-mail address
    batch_key        text,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_batch ON deliveries (batch_key) WHERE status = 'pending' AND attempts = 0;

-- What a delivery carries. The primary key is the "once per channel" rule.
CREATE TABLE delivery_items (
    notification_id  uuid NOT NULL REFERENCES notifications (id),
    channel          text NOT NULL,
    target           text NOT NULL,
    delivery_id      uuid NOT NULL REFERENCES deliveries (id),
    PRIMARY KEY (notification_id, channel, target)
);
CREATE INDEX delivery_items_delivery ON delivery_items (delivery_id);

CREATE TABLE delivery_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid        NOT NULL REFERENCES deliveries (id),
    attempt      integer     NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    ok           boolean     NOT NULL,
    status_code  integer,
    error        text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);

-- Notifications stored before categories existed get theirs from their type.
UPDATE notifications SET category = CASE split_part(type, '.', 1)
    WHEN 'crisis' THEN 'crisis' WHEN 'support' THEN 'support' WHEN 'account' THEN 'account'
    WHEN 'post' THEN 'post' WHEN 'queue' THEN 'queue' WHEN 'report' THEN 'report'
    ELSE 'system' END;
ALTER TABLE notifications ALTER COLUMN category SET DEFAULT 'system';
