"""Scenario 8: one of two moderation workers SIGKILLed mid-load and left dead; the other takes over.

Moderation runs as two members of each consumer group (``moderation-posts``,
``moderation-crisis``, ...), so ``forum.posts``' six partitions are split between them. One
is killed while posts are pending (a batch taken from Kafka, offsets uncommitted) and is
**not** restarted: its partitions stay unserved until the group coordinator notices it
gone (the session timeout, 10 s) and gives them to the survivor, which reads them again
from the last committed offset. The books must balance: every post decided once at its
latest version, every crisis post escalated and paged once, nothing in a DLQ.

``recovery_s``: the kill → every post accepted so far decided, by the survivor alone.
"""

from __future__ import annotations

import math

import pytest

from tests.reliability.conftest import INSTANCES
from tests.support.waiting import eventually


async def _pending(run) -> bool:
    return await run.db.fetchval("SELECT count(*) FROM forum.posts WHERE status = 'pending'") >= 1


@pytest.mark.skipif(INSTANCES < 2, reason="a takeover needs a second moderation worker")
@pytest.mark.timeout(420)
async def test_survivor_takes_over_a_killed_moderation_worker(open_run, postgres, kafka) -> None:
    async with open_run("moderation_replica_sigkill", admin_dsn=postgres.dsn(),
                        bootstrap_servers=kafka.bootstrap_servers) as run:
        await run.start_load()
        await run.wait_posts(50)
        await eventually(lambda: _pending(run), timeout=60, interval=0.02, what="posts pending before the kill")
        victim, survivor = run.services["moderation"].instances[:2]
        await victim.kill()
        run.faults += 1
        recovered = run.watch_recovery()
        await run.wait_posts(200)  # posts keep arriving on every partition, the dead worker's too
        assert not math.isnan(await recovered), "the survivor decided every post accepted before the kill"
        # Posts accepted after the kill, on all six partitions, are decided by the survivor alone.
        assert not math.isnan(await run.watch_recovery()), "the survivor decided the posts accepted after the kill"
        assert survivor.running() and not victim.running(), "the killed worker stayed dead: the survivor did it all"
        await run.finish()
