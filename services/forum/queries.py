"""Every SQL statement of the forum service, and nothing else.

Parameterised only. The two fetch helpers take a connection so the caller decides the
transaction; the store (``store.py``) and the handlers (``handlers.py``) compose them.
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

REVOKE_REFRESH_OF_USER = "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL"
# Rotation: the old token is revoked in the same statement that reads it, so it works once.
CONSUME_REFRESH = """
UPDATE refresh_tokens SET revoked_at = now(), used_at = now()
WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
RETURNING user_id, family_id
"""

# --- sessions (refresh-token families) ------------------------------------------------

INSERT_SESSION = "INSERT INTO sessions (id, user_id) VALUES ($1, $2)"
INSERT_REFRESH_IN_FAMILY = """
INSERT INTO refresh_tokens (token_hash, user_id, expires_at, family_id) VALUES ($1, $2, $3, $4)
"""
# A token presented again after its rotation: the family it belongs to, if that is still live.
REPLAYED_FAMILY = """
SELECT r.family_id, r.user_id FROM refresh_tokens r JOIN sessions s ON s.id = r.family_id
WHERE r.token_hash = $1 AND r.used_at IS NOT NULL AND s.revoked_at IS NULL
"""
# Any token of a family, whatever its state: holding one proves the session (logout by refresh token).
FAMILY_OF_TOKEN = "SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1 AND family_id IS NOT NULL"
REVOKE_SESSION = """
UPDATE sessions SET revoked_at = now(), revoked_reason = $3
WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
RETURNING id
"""
REVOKE_SESSIONS_OF_USER = """
UPDATE sessions SET revoked_at = now(), revoked_reason = $2
WHERE user_id = $1 AND revoked_at IS NULL
RETURNING id
"""
REVOKE_REFRESH_TOKEN = "UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL"
REVOKE_REFRESH_OF_FAMILY = "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL"
SESSION_IS_LIVE = "SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL"

# --- roles -----------------------------------------------------------------------------------

USER_FOR_ROLE_CHANGE = "SELECT id, handle, role, created_at, deleted_at FROM users WHERE id = $1 FOR UPDATE"
# Serialises role changes, so two admins demoting each other at once cannot leave no admin.
LOCK_ROLES = "SELECT pg_advisory_xact_lock(hashtext('forum-role-change'))"
COUNT_ADMINS = "SELECT count(*) FROM users WHERE role = 'admin' AND deleted_at IS NULL"
SET_ROLE = "UPDATE users SET role = $2 WHERE id = $1 RETURNING id, handle, role, created_at"

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
SELECT p.id, p.thread_id, p.author_id, u.handle AS author_handle, u.role AS author_role, p.is_opening, p.body,
       p.version, p.status, p.status_reasons, p.decided_version, p.created_at, p.updated_at
FROM post p JOIN users u ON u.id = p.author_id
"""
POST_BY_ID = """
SELECT p.id, p.thread_id, p.author_id, u.handle AS author_handle, u.role AS author_role, p.is_opening, p.body,
       p.version, p.status, p.status_reasons, p.decided_version, p.created_at, p.updated_at
FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = $1
"""
POST_BY_ID_FOR_UPDATE = """
SELECT p.id, p.thread_id, p.author_id, u.handle AS author_handle, u.role AS author_role, p.is_opening, p.body,
       p.version, p.status, p.status_reasons, p.decided_version, p.created_at, p.updated_at
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
# An edit is moderated again (pending); hidden_by_reports is left alone: only a moderator lifts a report hide.
EDIT_POST = """
UPDATE posts SET body = $2, version = version + 1, status = 'pending', status_reasons = '[]',
                 updated_at = now(), last_emitted_at = now()
WHERE id = $1
RETURNING version
"""
# A decision applies only to the post's current version, and only once per version:
# a decision for an older version (the post was edited since) is stale and ignored.
# Humans win: a decision for a version a moderator has already judged (reviewed_version) is ignored.
# A post hidden by reports stays held whatever the machine says ($5: the reports reason), until a
# moderator acts; a "removed" decision still removes it.
APPLY_DECISION = """
UPDATE posts
SET status = CASE WHEN hidden_by_reports AND $2 <> 'removed' THEN 'held' ELSE $2 END,
    status_reasons = CASE WHEN hidden_by_reports AND $2 <> 'removed' THEN $3::jsonb || $5::jsonb ELSE $3::jsonb END,
    decided_version = $4, updated_at = now()
WHERE id = $1 AND version = $4 AND status <> 'deleted'
  AND (decided_version IS NULL OR decided_version < $4)
  AND (reviewed_version IS NULL OR reviewed_version < $4)
RETURNING id, status
"""
# Posts still pending long after their event was emitted: re-emit (SKIP LOCKED lets
# several forum instances sweep without stepping on each other).
CLAIM_STALE_PENDING = """
SELECT p.id, p.thread_id, p.author_id, u.role AS author_role, p.is_opening, p.body, p.version, t.title,
       c.slug AS community
FROM posts p JOIN threads t ON t.id = p.thread_id JOIN communities c ON c.id = t.community_id
JOIN users u ON u.id = p.author_id
WHERE p.status = 'pending' AND p.last_emitted_at < now() - make_interval(secs => $1)
ORDER BY p.last_emitted_at
LIMIT $2
FOR UPDATE OF p SKIP LOCKED
"""
TOUCH_EMITTED = "UPDATE posts SET last_emitted_at = now() WHERE id = $1"

# --- moderation actions (handlers.py) -----------------------------------------------------

# A moderator's verdict on a version: it records the version judged (reviewed_version), which no
# automated decision for that version or an older one may override, and lifts a report hide.
SET_POST_STATUS = """
UPDATE posts SET status = $2, status_reasons = $3::jsonb, reviewed_version = $4, hidden_by_reports = false,
                 updated_at = now()
WHERE id = $1 AND version = $4 AND status <> 'deleted' AND status = ANY($5::text[])
RETURNING id
"""
# A moderator's verdict that leaves the status alone (dismissing reports on a post the machine has not
# decided yet) still lifts the report hide, so the pending decision can publish it.
LIFT_REPORT_HIDE = """
UPDATE posts SET hidden_by_reports = false, updated_at = now()
WHERE id = $1 AND version = $2 AND hidden_by_reports
RETURNING id
"""
REDACT_POST = """
UPDATE posts SET body = $2, status = 'published', status_reasons = '[]', redacted_at = now(), updated_at = now(),
                 reviewed_version = $3, hidden_by_reports = false
WHERE id = $1 AND version = $3 AND status <> 'deleted'
RETURNING id
"""
# Members' reports crossed the hide threshold (the system's "hide"): whatever the version, since
# reports count per post. A published post is held now; a pending one stays pending and its decision
# cannot publish it (APPLY_DECISION) until a moderator acts.
HIDE_BY_REPORTS = """
UPDATE posts SET hidden_by_reports = true, updated_at = now(),
                 status = CASE WHEN status = 'published' THEN 'held' ELSE status END,
                 status_reasons = CASE WHEN status = 'published' THEN $2::jsonb ELSE status_reasons END
WHERE id = $1 AND status <> 'deleted'
RETURNING id
"""
SUSPEND_USER = "UPDATE users SET suspended_until = $2 WHERE id = $1"
UNSUSPEND_USER = "UPDATE users SET suspended_until = NULL WHERE id = $1 AND suspended_until IS NOT NULL"
USER_ROLE = "SELECT role FROM users WHERE id = $1"
WARN_USER = "UPDATE users SET warnings = warnings + 1 WHERE id = $1"
# A decision that publishes a reply tells the thread's author (handlers.py, reply.published).
THREAD_AUTHOR_OF_POST = """
SELECT p.is_opening, p.author_id, p.thread_id, t.author_id AS thread_author_id, c.slug AS community
FROM posts p JOIN threads t ON t.id = p.thread_id JOIN communities c ON c.id = t.community_id WHERE p.id = $1
"""

# --- appeals and reactions ----------------------------------------------------------------

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


# --- retention (services/common/retention.py; $1 age as an interval, $2 batch size) -----------------

# Refresh tokens $1 after they expired (a used or revoked one has nothing left to prove by then).
REFRESH_TOKEN_RETENTION = """
DELETE FROM refresh_tokens WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM refresh_tokens WHERE expires_at < now() - $1::interval
    ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))
"""
