"""Scenario 5: every event delivered twice, plus poison of every shape, at volume, under load.

A replayer re-produces every record of the service topics (same bytes, same event id)
as it appears, so every consumer sees every event at least twice; meanwhile poison is
produced in bursts onto four topics: bytes that are not JSON, JSON that is not an
envelope, envelopes breaking the schema, an unknown major version, an unknown type and
tombstones. The inboxes must absorb every repeat; each poison record must reach
``<topic>.dlq`` once per consumer of that topic, and no good event may.
"""

from __future__ import annotations

import os

import pytest

from tests.support.chaos import Replayer, inject_poison
from tests.support.invariants import settle

TOPICS = ["forum.posts", "forum.reports", "forum.activity", "forum.accounts", "moderation.decisions",
          "moderation.escalations", "moderation.actions"]
BURSTS = 4
PER_BURST = int(os.environ.get("HAVEN_RELIABILITY_POISON_PER_BURST", "10"))  # per topic


@pytest.mark.timeout(300)
async def test_every_event_twice_and_poison_at_volume(open_run, postgres, kafka) -> None:
    async with open_run("duplicates_and_poison", admin_dsn=postgres.dsn(),
                        bootstrap_servers=kafka.bootstrap_servers) as run:
        replayer = Replayer(kafka.bootstrap_servers, run.names, TOPICS)
        await replayer.start()
        try:
            await run.start_load()
            for _ in range(BURSTS):
                await run.wait_posts(12)
                injected = await inject_poison(kafka.bootstrap_servers, run.names, {
                    "forum.posts": PER_BURST, "forum.reports": PER_BURST,
                    "moderation.decisions": PER_BURST, "moderation.escalations": PER_BURST})
                for key, n in injected.items():
                    run.poison[key] = run.poison.get(key, 0) + n
            recovered = run.watch_recovery()
            await run.wait_posts(12)
            await recovered
            await run.load.stop()
            # Let the last events land, replay those too, then reconcile.
            await settle(run.db, run.load.stats, timeout=60)
            await replayer.catch_up()
        finally:
            await replayer.stop()
        run.faults = replayer.replayed + BURSTS * 4 * PER_BURST
        assert replayer.replayed > len(run.load.stats.accepted), "every post's events were replayed"
        await run.finish()
