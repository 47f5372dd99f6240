-- Sessions: a session is a refresh-token family (OAuth 2.0 Security BCP). Each sign-in starts one;
-- each refresh rotates the token within it; access tokens name it in their `sid` claim. Ending a
-- session (logout, sign out everywhere, a reused refresh token) revokes every token of the family
-- and, through revoked_sessions (services/common/sql/003) and forum.accounts, its access tokens.
CREATE TABLE sessions (
    id              uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    revoked_reason  text
);
CREATE INDEX sessions_user_live ON sessions (user_id) WHERE revoked_at IS NULL;

-- The family of each refresh token (NULL: minted before sessions existed; such a token starts a
-- family when it is used). used_at: rotated away by a refresh, so a second use is a replay.
ALTER TABLE refresh_tokens ADD COLUMN family_id uuid REFERENCES sessions (id) ON DELETE CASCADE;
ALTER TABLE refresh_tokens ADD COLUMN used_at timestamptz;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id) WHERE revoked_at IS NULL;

