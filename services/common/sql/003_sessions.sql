-- Ended sessions and account changes, as this service learnt them (forum writes its own rows in the
-- request's transaction; moderation and notifications apply forum.accounts' session.revoked and
-- role.changed in their inbox transaction). Every instance keeps the recent rows in memory
-- (services/common/sessions.py) and refuses the tokens they cover with a 401.

-- A session is a refresh-token family; access tokens name it in their `sid` claim. Rows older than
-- the longest access-token lifetime cover no live token and are no longer read.
CREATE TABLE revoked_sessions (
    sid         uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_sessions_at ON revoked_sessions (revoked_at);

-- Per account: its current role once it has changed (a token carrying another role is refused, so
-- the client refreshes and gets the new one), and "not before" (sign out everywhere: a token without
-- a session id issued before it is refused).
CREATE TABLE account_states (
    user_id          uuid        PRIMARY KEY,
    role             text,
    role_changed_at  timestamptz,
    not_before       timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
