-- Suspended accounts, as this service learnt them (moderation writes its own when a moderator
-- suspends; forum and notifications apply moderation.actions' `suspend`). Every instance keeps
-- the current rows in memory (services/common/suspensions.py) and refuses their tokens.
CREATE TABLE suspensions (
    user_id     uuid        PRIMARY KEY,
    until       timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX suspensions_until ON suspensions (until);
