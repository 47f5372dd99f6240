"""Every SQL statement of the forum service, and nothing else.

Parameterised only. Functions take a connection so the caller decides the
transaction; the store (``store.py``) composes them.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

# --- users -------------------------------------------------------------------

INSERT_USER = """
INSERT INTO users (id, handle, password_hash, role, email) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
RETURNING id, handle, role, created_at
"""
USER_BY_HANDLE = """
SELECT id, handle, password_hash, role, created_at, suspended_until, deleted_at
FROM users WHERE lower(handle) = lower($1)
"""
USER_BY_ID = """
SELECT id, handle, password_hash, role, created_at, suspended_until, deleted_at FROM users WHERE id = $1
"""
UPDATE_PASSWORD_HASH = "UPDATE users SET password_hash = $2 WHERE id = $1"

INSERT_REFRESH = "INSERT INTO refresh_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)"
REVOKE_REFRESH_OF_USER = "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL"
# Rotation: the old token is revoked in the same statement that reads it, so it works once.
CONSUME_REFRESH = """
UPDATE refresh_tokens SET revoked_at = now()
WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
RETURNING user_id
"""

# --- communities and threads -------------------------------------------------------

INSERT_COMMUNITY = """
INSERT INTO communities (id, slug, name, description) VALUES ($1, $2, $3, $4)
ON CONFLICT (slug) DO NOTHING
RETURNING id, slug, name, description, created_at
"""
LIST_COMMUNITIES = "SELECT id, slug, name, description, created_at FROM communities ORDER BY name"
COMMUNITY_BY_SLUG = "SELECT id, slug, name, description, created_at FROM communities WHERE slug = $1"
INSERT_THREAD = """
INSERT INTO threads (id, community_id, author_id, title) VALUES ($1, $2, $3, $4)
RETURNING id, community_id, author_id, title, created_at
"""
THREAD_BY_ID = """
SELECT t.id, t.community_id, c.slug AS community, t.author_id, t.title, t.created_at
FROM threads t JOIN communities c ON c.id = t.community_id WHERE t.id = $1
"""
# Threads whose opening post others can see, newest first.
LIST_THREADS = """
SELECT t.id, t.title, t.created_at, c.slug AS community
FROM threads t
JOIN communities c ON c.id = t.community_id
JOIN posts p ON p.thread_id = t.id AND p.is_opening
WHERE c.slug = $1 AND (p.status = 'published' OR p.author_id = $2)
ORDER BY t.created_at DESC
LIMIT $3
"""

# --- posts ---------------------------------------------------------------------------

INSERT_POST = """
INSERT INTO posts (id, thread_id, author_id, is_opening, body) VALUES ($1, $2, $3, $4, $5)
"""
INSERT_REVISION = "INSERT INTO post_revisions (post_id, version, body) VALUES ($1, $2, $3)"
# A new post, its first revision, and the post as POST_BY_ID reads it: one round trip instead of three.
# (The revision's foreign key is checked at the end of the statement, when the post row exists.)
INSERT_POST_WITH_REVISION = """
WITH post AS (
    INSERT INTO posts (id, thread_id, author_id, is_opening, body) VALUES ($1, $2, $3, $4, $5)
    RETURNING id, thread_id, author_id, is_opening, body, version, status, status_reasons, decided_version,
              created_at, updated_at
), revision AS (
    INSERT INTO post_revisions (post_id, version, body) SELECT id, version, body FROM post
)
SELECT p.id, p.thread_id, p.author_id, u.handle AS author_handle, p.is_opening, p.body, p.version, p.status,
       p.status_reasons, p.decided_version, p.created_at, p.updated_at
FROM post p JOIN users u ON u.id = p.author_id
"""
POST_BY_ID = """
SELECT p.id, p.thread_id, p.author_id, u.handle AS author_handle, p.is_opening, p.body, p.version, p.status,
       p.status_reasons, p.decided_version, p.created_at, p.updated_at
FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = $1
"""
POST_BY_ID_FOR_UPDATE = """
SELECT p.id, p.thread_id, p.author_id, u.handle AS author_handle, p.is_opening, p.body, p.version, p.status,
       p.status_reasons, p.decided_version, p.created_at, p.updated_at
FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = $1 FOR UPDATE OF p
"""
OPENING_POST = """
SELECT p.id, p.author_id, p.status FROM posts p WHERE p.thread_id = $1 AND p.is_opening
"""
POSTS_IN_THREAD = """
SELECT p.id, p.thread_id, p.author_id, u.handle AS author_handle, p.is_opening, p.body, p.version, p.status,
       p.status_reasons, p.decided_version, p.created_at, p.updated_at
FROM posts p JOIN users u ON u.id = p.author_id
WHERE p.thread_id = $1 AND p.status <> 'deleted'
  AND (p.status = 'published' OR p.author_id = $2 OR $3)
ORDER BY p.created_at, p.id
LIMIT $4
"""
EDIT_POST = """
UPDATE posts SET body = $2, version = version + 1, status = 'pending', status_reasons = '[]',
                 updated_at = now(), last_emitted_at = now()
WHERE id = $1
RETURNING version
"""
# A decision applies only to the post's current version, and only once per version:
# a decision for an older version (the post was edited since) is stale and ignored.
APPLY_DECISION = """
UPDATE posts SET status = $2, status_reasons = $3::jsonb, decided_version = $4, updated_at = now()
WHERE id = $1 AND version = $4 AND status <> 'deleted'
  AND (decided_version IS NULL OR decided_version < $4)
RETURNING id
"""
# Posts still pending long after their event was emitted: re-emit (SKIP LOCKED lets
# several forum instances sweep without stepping on each other).
CLAIM_STALE_PENDING = """
SELECT p.id, p.thread_id, p.author_id, p.is_opening, p.body, p.version, t.title, c.slug AS community
FROM posts p JOIN threads t ON t.id = p.thread_id JOIN communities c ON c.id = t.community_id
WHERE p.status = 'pending' AND p.last_emitted_at < now() - make_interval(secs => $1)
ORDER BY p.last_emitted_at
LIMIT $2
FOR UPDATE OF p SKIP LOCKED
"""
TOUCH_EMITTED = "UPDATE posts SET last_emitted_at = now() WHERE id = $1"

# --- moderation actions -----------------------------------------------------------------

SET_POST_STATUS = """
UPDATE posts SET status = $2, status_reasons = $3::jsonb, updated_at = now()
WHERE id = $1 AND version = $4 AND status <> 'deleted' AND status = ANY($5::text[])
RETURNING id
"""
REDACT_POST = """
UPDATE posts SET body = $2, status = 'published', status_reasons = '[]', redacted_at = now(), updated_at = now()
WHERE id = $1 AND version = $3 AND status <> 'deleted'
RETURNING id
"""
SUSPEND_USER = "UPDATE users SET suspended_until = $2 WHERE id = $1"
WARN_USER = "UPDATE users SET warnings = warnings + 1 WHERE id = $1"
INSERT_APPEAL = """
INSERT INTO appeals (id, post_id, version, author_id, note) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (post_id, version) DO NOTHING
RETURNING id, post_id, version, note, created_at
"""

INSERT_REACTION = """
INSERT INTO reactions (post_id, user_id, kind) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING created_at
"""
REACTION_COUNTS = "SELECT kind, count(*) AS n FROM reactions WHERE post_id = $1 GROUP BY kind"
THREAD_AUTHOR_OF_POST = """
SELECT p.is_opening, p.author_id, p.thread_id, t.author_id AS thread_author_id, c.slug AS community
FROM posts p JOIN threads t ON t.id = p.thread_id JOIN communities c ON c.id = t.community_id WHERE p.id = $1
"""

# --- reports ----------------------------------------------------------------------------

INSERT_REPORT = """
INSERT INTO reports (id, post_id, reporter_id, reason, note, post_version, body_snapshot)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (post_id, reporter_id) DO NOTHING
RETURNING id, post_id, reason, note, post_version, created_at
"""
REPORT_BY_REPORTER = """
SELECT id, post_id, reason, note, post_version, created_at FROM reports WHERE post_id = $1 AND reporter_id = $2
"""


async def fetch_one(conn: asyncpg.Connection, sql: str, *args: Any) -> dict[str, Any] | None:
    row = await conn.fetchrow(sql, *args)
    return _plain(row) if row is not None else None


async def fetch_all(conn: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [_plain(row) for row in await conn.fetch(sql, *args)]


def _plain(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    if isinstance(out.get("status_reasons"), str):
        out["status_reasons"] = json.loads(out["status_reasons"])
    return out
