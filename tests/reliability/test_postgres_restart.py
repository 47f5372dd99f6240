"""Scenario 3: PostgreSQL restarted mid-load.

The services are never told: their pools, the outbox relays' LISTEN connections and the
consumers must reconnect by themselves. While the database is down a request gets 503
with ``Retry-After`` - never a 500, never a hang (the load generator flags any answer
slower than 10 s, any 5xx but 503, and any 503 without ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import pytest

from services.common.embedded.postgres import EmbeddedPostgres

DOWN_S = float(os.environ.get("HAVEN_RELIABILITY_PG_DOWN_S", "6"))


@pytest.fixture
def own_postgres(session_dir: Path):
    server = EmbeddedPostgres(session_dir / f"postgres-restart-{os.getpid()}")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(300)
async def test_postgres_restarted_mid_load(open_run, own_postgres: EmbeddedPostgres, kafka) -> None:
    loop = asyncio.get_running_loop()
    async with open_run("postgres_restart", admin_dsn=own_postgres.dsn(),
                        bootstrap_servers=kafka.bootstrap_servers) as run:
        await run.start_load()
        await run.wait_posts(20)
        await run.db.close()
        await loop.run_in_executor(None, own_postgres.stop)
        run.faults += 1
        run.sends_may_go_unrecorded = True  # an e-mail sent just before the stop cannot be marked sent
        await run.wait_seconds_of_load(DOWN_S)
        await loop.run_in_executor(None, own_postgres.start)
        writes_again = run.watch_first_accept()
        run.db = await asyncpg.connect(run.database_url)
        recovered = run.watch_recovery()
        await run.wait_posts(20)
        await writes_again
        await recovered
        statuses = run.load.stats.statuses
        unavailable = statuses[("post", 503)]
        await run.finish()
        assert unavailable > 0, f"the outage was seen by the load: {run.load.stats.summary()}"
