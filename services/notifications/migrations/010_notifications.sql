-- A notification goes to one user (recipient_user) or to everyone holding a role
-- (recipient_role: the crisis rota, the moderators). One row per source event and
-- recipient: a re-delivered event cannot notify twice.
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    recipient_user  uuid,
    recipient_role  text,
    type            text        NOT NULL,
    data            jsonb       NOT NULL,
    source_event_id uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    CHECK ((recipient_user IS NULL) <> (recipient_role IS NULL)),
    UNIQUE NULLS NOT DISTINCT (source_event_id, recipient_user, recipient_role, type)
);
CREATE INDEX notifications_user ON notifications (recipient_user, created_at DESC) WHERE recipient_user IS NOT NULL;
CREATE INDEX notifications_role ON notifications (recipient_role, created_at DESC) WHERE recipient_role IS NOT NULL;
