"""A notification never joins a batched delivery that a sender has already leased.

Found by the reliability suite at 100 posts/s with two notifications instances: a webhook delivery
marked ``sent`` whose notification the receiver never got. Queue notifications are batched: the
planner joins an open batch (``OPEN_BATCH``: pending, never tried, not yet due). Its "not yet due"
compares with ``now()``, the planner's *transaction start*; by the time it runs, the batch may be
due and leased by a sender who has already read its items. The planner's ``FOR UPDATE`` waits for
the lease to commit, re-checks its conditions (still pending, attempts 0), and adds the item to a
delivery whose message has already gone: the item is marked sent, never sent. On real PostgreSQL,
with that interleaving forced by two connections.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

from services.common.service import migrate
from services.notifications import main as notifications_main
from services.notifications import queries as q
from tests.support.stack import Isolation
from tests.support.waiting import eventually


async def test_a_planner_never_joins_a_batch_a_sender_has_leased(isolation: Isolation) -> None:
    await migrate(isolation.database_url, "notifications", notifications_main.MIGRATIONS)
    settings = {"search_path": "notifications"}
    planner = await asyncpg.connect(isolation.database_url, server_settings=settings)
    sender = await asyncpg.connect(isolation.database_url, server_settings=settings)
    try:
        batch_key, delivery = f"queue:webhook:{uuid.uuid4()}", uuid.uuid4()
        async with planner.transaction():
            started = await planner.fetchval("SELECT now()")  # the planner's transaction time, fixed from here
            # A batch due a moment after the planner's transaction began (created by another planner).
            await sender.execute(q.INSERT_DELIVERY, delivery, "webhook", str(uuid.uuid4()), batch_key,
                                 started + timedelta(milliseconds=50))
            await eventually(lambda: _past(sender, started, 0.05), what="the batch due by the clock")
            leased = await sender.fetch(q.LEASE_DUE, 10, 30)  # the sender takes it and reads its items
            assert [r["id"] for r in leased] == [delivery]
            joined = await planner.fetchval(q.OPEN_BATCH, batch_key)
        assert joined is None, "a new item joined a batch whose sender had already read its items: never sent"
    finally:
        await planner.close()
        await sender.close()


async def _past(conn: asyncpg.Connection, started, seconds: float) -> bool:
    return await conn.fetchval("SELECT clock_timestamp() > $1::timestamptz + make_interval(secs => $2)", started, seconds)
