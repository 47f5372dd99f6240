"""Retention: the inbox, sent deliveries and expired refresh tokens stop growing forever.

On real PostgreSQL: rows on both sides of each age are written, one run of each service's
job deletes exactly those past their age, in batches no bigger than ``RETENTION_BATCH_SIZE``,
and counts them in ``haven_retention_deleted_rows_total``. The three services run the job
in the background (checked through their ``/metrics`` and the tables, polling). The inbox
age cannot be set below the longest Kafka topic retention.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry

from services.common.config import CommonConfig, EnvReader, inbox_retention_minimum_days
from services.common.retention import REVOKED_SESSIONS_PURGE, RetentionJob, inbox_purge
from services.common.service import migrate
from services.forum import main as forum_main
from services.forum.queries import REFRESH_TOKEN_RETENTION
from services.moderation import main as moderation_main
from services.notifications import main as notifications_main
from services.notifications.queries import DELIVERY_RETENTION
from services.common.topics import load_topics
from tests.support.stack import Isolation, start_stack
from tests.support.waiting import eventually


class CountingPool:
    """The real pool; remembers how many rows each statement deleted (the batch sizes)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool, self.batches = pool, []

    def acquire(self):
        outer = self

        class Conn:
            def __init__(self, conn) -> None:
                self._conn = conn

            async def execute(self, sql, *args):
                status = await self._conn.execute(sql, *args)
                outer.batches.append(int(status.rsplit(" ", 1)[-1]))
                return status

        class Ctx:
            async def __aenter__(self):
                self._ctx = outer._pool.acquire()
                return Conn(await self._ctx.__aenter__())

            async def __aexit__(self, *exc):
                return await self._ctx.__aexit__(*exc)

        return Ctx()


def deleted(registry: CollectorRegistry, table: str) -> float:
    return registry.get_sample_value("haven_retention_deleted_rows_total", {"table": table}) or 0.0


async def _inbox(conn: asyncpg.Connection, days_ago: int, n: int) -> None:
    await conn.execute("""
        INSERT INTO inbox (consumer, event_id, event_type, applied_at)
        SELECT 'c', gen_random_uuid(), 'x', now() - $1 * interval '1 day' - n * interval '1 second'
        FROM generate_series(1, $2) AS n""", days_ago, n)


async def test_forum_job_deletes_old_inbox_rows_and_long_expired_refresh_tokens(isolation: Isolation) -> None:
    await migrate(isolation.database_url, "forum", forum_main.MIGRATIONS)
    pool = await asyncpg.create_pool(isolation.database_url, server_settings={"search_path": "forum"},
                                     min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await _inbox(conn, 50, 23)      # past INBOX_RETENTION_DAYS (45)
            await _inbox(conn, 40, 5)       # not yet
            user = uuid.uuid4()
            await conn.execute("INSERT INTO users (id, handle, password_hash, role) VALUES ($1, 'u', 'x', 'member')",
                               user)
            for n, (expired_days_ago, revoked) in enumerate([(30, False)] * 12 + [(8, True)] * 5 + [(3, False)] * 4
                                                            + [(-20, False)] * 3 + [(-20, True)] * 2):
                await conn.execute("""
                    INSERT INTO refresh_tokens (token_hash, user_id, expires_at, revoked_at)
                    VALUES (sha256($1::text::bytea), $2, now() - $3 * interval '1 day', CASE WHEN $4 THEN now() END)
                    """, f"token {n}", user, expired_days_ago, revoked)
        registry = CollectorRegistry()
        counting = CountingPool(pool)
        job = RetentionJob(counting, [inbox_purge(45), ("refresh_tokens", REFRESH_TOKEN_RETENTION, timedelta(days=7))],
                           batch_size=5, registry=registry)
        assert await job.run_once() == {"inbox": 23, "refresh_tokens": 17}
        assert max(counting.batches) <= 5, "no batch bigger than RETENTION_BATCH_SIZE"
        assert len(counting.batches) == 5 + 4  # 5+5+5+5+3, then 5+5+5+2
        assert deleted(registry, "inbox") == 23 and deleted(registry, "refresh_tokens") == 17
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM inbox") == 5
            assert await conn.fetchval("SELECT count(*) FROM refresh_tokens") == 9
            assert await conn.fetchval("SELECT min(expires_at) > now() - interval '7 days' FROM refresh_tokens")
        assert await job.run_once() == {"inbox": 0, "refresh_tokens": 0}, "a second run finds nothing"
    finally:
        await pool.close()


async def test_notifications_job_deletes_old_sent_deliveries_with_their_items_and_attempts(isolation: Isolation) -> None:
    await migrate(isolation.database_url, "notifications", notifications_main.MIGRATIONS)
    pool = await asyncpg.create_pool(isolation.database_url, server_settings={"search_path": "notifications"},
                                     min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            kept = []
            for n, (status, days_ago) in enumerate([("sent", 40)] * 7 + [("sent", 5)] * 2 + [("pending", 40)]
                                                   + [("dead", 40)]):
                delivery, notification = uuid.uuid4(), uuid.uuid4()
                await conn.execute("""
                    INSERT INTO notifications (id, recipient_role, type, data, source_event_id)
                    VALUES ($1, 'moderator', 'queue.item', '{}', $2)""", notification, uuid.uuid4())
                await conn.execute("""
                    INSERT INTO deliveries (id, channel, target, status, attempts, created_at, sent_at)
                    VALUES ($1, 'webhook', 't', $2, 1, now() - $3 * interval '1 day',
                            CASE WHEN $2 = 'sent' THEN now() - $3 * interval '1 day' END)""",
                                   delivery, status, days_ago)
                await conn.execute("INSERT INTO delivery_items VALUES ($1, 'webhook', 't', $2)", notification, delivery)
                await conn.execute("INSERT INTO delivery_attempts (delivery_id, attempt, ok) VALUES ($1, 1, true)",
                                   delivery)
                if (status, days_ago) != ("sent", 40):
                    kept.append(delivery)
        registry = CollectorRegistry()
        job = RetentionJob(pool, [inbox_purge(45), ("deliveries", DELIVERY_RETENTION, timedelta(days=30))],
                           batch_size=3, registry=registry)
        assert await job.run_once() == {"inbox": 0, "deliveries": 7}
        assert deleted(registry, "deliveries") == 7
        async with pool.acquire() as conn:
            assert sorted(await conn.fetch("SELECT id FROM deliveries")) == sorted(
                await conn.fetch("SELECT unnest($1::uuid[]) AS id", kept))
            assert await conn.fetchval("SELECT count(*) FROM delivery_items") == len(kept)
            assert await conn.fetchval("SELECT count(*) FROM delivery_attempts") == len(kept)
            assert await conn.fetchval("SELECT count(*) FROM notifications") == 11, "notifications themselves stay"
    finally:
        await pool.close()


async def test_ended_sessions_are_dropped_a_day_after_they_could_matter(isolation: Isolation) -> None:
    await migrate(isolation.database_url, "moderation", moderation_main.MIGRATIONS)
    pool = await asyncpg.create_pool(isolation.database_url, server_settings={"search_path": "moderation"},
                                     min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await conn.execute("""
                INSERT INTO revoked_sessions (sid, user_id, revoked_at)
                SELECT gen_random_uuid(), gen_random_uuid(), now() - n * interval '1 hour' FROM generate_series(1, 30) AS n
                """)
        job = RetentionJob(pool, [REVOKED_SESSIONS_PURGE], batch_size=4, registry=CollectorRegistry())
        assert await job.run_once() == {"revoked_sessions": 7}, "older than 24 hours: hours 24..30"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT max(now() - revoked_at) < interval '1 day' FROM revoked_sessions")
    finally:
        await pool.close()


async def test_each_service_runs_its_job_in_the_background(isolation: Isolation) -> None:
    async with start_stack(isolation, RETENTION_INTERVAL_SECONDS="1", REFRESH_TOKEN_RETENTION_DAYS="0") as stack:
        user = await stack.register()
        await stack.db.execute("""
            INSERT INTO forum.refresh_tokens (token_hash, user_id, expires_at)
            SELECT sha256(n::text::bytea), $1, now() - interval '1 hour' FROM generate_series(1, 4) AS n""",
                               uuid.UUID(user.id))

        async def purged() -> bool:
            return await stack.db.fetchval("SELECT count(*) FROM forum.refresh_tokens WHERE expires_at < now()") == 0

        await eventually(purged, what="expired refresh tokens deleted by forum's retention job")
        for client, tables in ((stack.forum, ("inbox", "revoked_sessions", "refresh_tokens")),
                               (stack.moderation, ("inbox", "revoked_sessions")),
                               (stack.notifications, ("inbox", "revoked_sessions", "deliveries"))):
            async def exported() -> str | None:
                text = await (await client.get("/metrics")).text()
                return text if all(f'haven_retention_deleted_rows_total{{table="{t}"}}' in text for t in tables) \
                    else None

            text = await eventually(exported, what="retention metrics")
            if client is stack.forum:
                line = next(l for l in text.splitlines()
                            if l.startswith('haven_retention_deleted_rows_total{table="refresh_tokens"}'))
                assert float(line.split()[-1]) >= 4


def test_inbox_retention_outlives_every_topic() -> None:
    longest_days = max(int(spec.configs["retention.ms"]) for spec in load_topics()) / 86_400_000
    assert inbox_retention_minimum_days() > longest_days
    env = EnvReader({"DATABASE_URL": "x", "KAFKA_BOOTSTRAP_SERVERS": "y"})
    assert CommonConfig.read(env, default_port=1).inbox_retention_days > longest_days, "the default is safe"
    env = EnvReader({"DATABASE_URL": "x", "KAFKA_BOOTSTRAP_SERVERS": "y", "INBOX_RETENTION_DAYS": "14"})
    CommonConfig.read(env, default_port=1)
    assert any("INBOX_RETENTION_DAYS" in p for p in env.problems), "an inbox age Kafka could outlive is refused"
