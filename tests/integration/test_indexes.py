"""The queue views' and the retention jobs' queries use indexes, not scans of whole tables.

Each schema is migrated, filled with some tens of thousands of realistic rows and ANALYZEd;
then the services' own statements (``services/*/queries.py``, with real parameters) are
EXPLAINed and the plan must reach the table through an index (no ``Seq Scan`` on it).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import asyncpg

from services.common.retention import INBOX_RETENTION
from services.common.service import migrate
from services.forum import main as forum_main
from services.forum import queries as forum_q
from services.moderation import main as moderation_main
from services.moderation import queries as moderation_q
from services.notifications import main as notifications_main
from services.notifications import queries as notifications_q
from tests.support.stack import Isolation

ROWS = 30_000


async def _schema(isolation: Isolation, schema: str, migrations) -> asyncpg.Connection:
    await migrate(isolation.database_url, schema, migrations)
    conn = await asyncpg.connect(isolation.database_url, server_settings={"search_path": schema})
    return conn


def _scans(plan: dict) -> list[tuple[str, str | None]]:
    """(node type, relation) of every node of an EXPLAIN (FORMAT JSON) plan."""
    found, pending = [], [plan]
    while pending:
        node = pending.pop()
        found.append((node["Node Type"], node.get("Relation Name")))
        pending.extend(node.get("Plans", []))
    return found


async def assert_indexed(conn: asyncpg.Connection, table: str, sql: str, *args) -> None:
    raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    nodes = [(kind, relation) for kind, relation in _scans(plan) if relation == table]
    assert nodes, f"the plan never reads {table}: {nodes}"
    assert all(kind != "Seq Scan" for kind, _ in nodes), f"{table} is scanned whole:\n{json.dumps(plan, indent=1)[:3000]}"
    assert any("Index" in kind or "Bitmap" in kind for kind, _ in nodes)


async def _fill_inbox(conn: asyncpg.Connection) -> None:
    await conn.execute("""
        INSERT INTO inbox (consumer, event_id, event_type, applied_at)
        SELECT 'c' || (i % 3), gen_random_uuid(), 'post.created', now() - (i % 90) * interval '1 day'
        FROM generate_series(1, $1) AS i""", ROWS)


async def test_moderation_queue_views_use_indexes(isolation: Isolation) -> None:
    conn = await _schema(isolation, "moderation", moderation_main.MIGRATIONS)
    try:
        # 30,000 posts in 3,000 threads by 2,000 authors, each with a decision.
        await conn.execute("""
            INSERT INTO posts (post_id, thread_id, community, author_id, version, title, body, received_at)
            SELECT gen_random_uuid(), t.id, 'general', a.id, 1, NULL, 'a post body of some length', now() - i * interval '1 minute'
            FROM generate_series(1, $1) AS i
            JOIN (SELECT n, gen_random_uuid() AS id FROM generate_series(0, 2999) AS n) t ON t.n = i % 3000
            JOIN (SELECT n, gen_random_uuid() AS id FROM generate_series(0, 1999) AS n) a ON a.n = i % 2000""", ROWS)
        await conn.execute("""
            INSERT INTO decisions (id, event_id, post_id, version, author_id, community, outcome, reasons, signals,
                                   scores, policy_version, model)
            SELECT gen_random_uuid(), gen_random_uuid(), post_id, 1, author_id, community,
                   (ARRAY['published', 'held', 'removed'])[1 + abs(hashtext(post_id::text)) % 3],
                   '[]', '[]', '{}', 'v1', 'm'
            FROM posts""")
        await _fill_inbox(conn)
        await conn.execute("ANALYZE")
        post = await conn.fetchrow("SELECT thread_id, author_id, received_at FROM posts LIMIT 1 OFFSET 777")
        await assert_indexed(conn, "posts", moderation_q.THREAD_CONTEXT, post["thread_id"], post["received_at"], 3)
        await assert_indexed(conn, "posts", moderation_q.AUTHOR_FIRST_SEEN, post["author_id"])
        await assert_indexed(conn, "decisions", moderation_q.AUTHOR_DECISIONS, post["author_id"])
        await assert_indexed(conn, "inbox", INBOX_RETENTION, timedelta(days=45), 1000)
    finally:
        await conn.close()


async def test_forum_refresh_tokens_use_indexes(isolation: Isolation) -> None:
    conn = await _schema(isolation, "forum", forum_main.MIGRATIONS)
    try:
        await conn.execute("""
            INSERT INTO users (id, handle, password_hash, role)
            SELECT gen_random_uuid(), 'user' || n, 'x', 'member' FROM generate_series(1, 2000) AS n""")
        await conn.execute("""
            INSERT INTO refresh_tokens (token_hash, user_id, expires_at, revoked_at)
            SELECT sha256(i::text::bytea), u.id, now() + (i % 120 - 90) * interval '1 day',
                   CASE WHEN i % 4 = 0 THEN now() END
            FROM generate_series(1, $1) AS i
            JOIN (SELECT row_number() OVER () % 2000 AS n, id FROM users) u ON u.n = i % 2000""", ROWS)
        await conn.execute("ANALYZE")
        user_id = await conn.fetchval("SELECT id FROM users OFFSET 17 LIMIT 1")
        await assert_indexed(conn, "refresh_tokens", forum_q.REVOKE_REFRESH_OF_USER, user_id)
        await assert_indexed(conn, "refresh_tokens", forum_q.REFRESH_TOKEN_RETENTION, timedelta(days=7), 1000)
        await assert_indexed(conn, "refresh_tokens", "DELETE FROM refresh_tokens WHERE user_id = $1", user_id)
    finally:
        await conn.close()


async def test_notification_delivery_retention_uses_an_index(isolation: Isolation) -> None:
    conn = await _schema(isolation, "notifications", notifications_main.MIGRATIONS)
    try:
        await conn.execute("""
            INSERT INTO deliveries (id, channel, target, status, attempts, created_at, sent_at)
            SELECT gen_random_uuid(), 'webhook', $2::text, s.status, 1,
                   now() - (i % 90) * interval '1 day',
                   CASE WHEN s.status = 'sent' THEN now() - (i % 90) * interval '1 day' END
            FROM generate_series(1, $1) AS i
            JOIN (VALUES (0, 'sent'), (1, 'sent'), (2, 'sent'), (3, 'pending'), (4, 'dead')) s(n, status)
              ON s.n = i % 5""", ROWS, str(uuid.uuid4()))
        await conn.execute("ANALYZE")
        await assert_indexed(conn, "deliveries", notifications_q.DELIVERY_RETENTION, timedelta(days=30), 1000)
    finally:
        await conn.close()
