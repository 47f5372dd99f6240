-- Refresh tokens by user: revoking a suspended member's tokens (REVOKE_REFRESH_OF_USER) and the
-- ON DELETE CASCADE from users read them by user_id, which scanned the whole table.
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
-- Retention deletes tokens some days after they expired, oldest first, in batches.
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
