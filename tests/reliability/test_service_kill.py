"""Scenario 2: each service SIGKILLed mid-batch under load, then restarted, one at a time.

One of each service's instances is killed: forum with requests in flight and outbox rows
unsent; moderation with a batch of posts taken from Kafka but offsets uncommitted (its
partitions move to the other instance, then back); notifications with webhook deliveries
leased (the other instance takes them once the lease expires). Each is killed only once it
is demonstrably busy, then started again on the same port. The books must balance: nothing lost, nothing applied twice.
"""

from __future__ import annotations

import pytest

from tests.support.waiting import eventually


async def _busy(run, service: str) -> bool:
    """Whether ``service`` has work in hand right now (so the kill lands mid-batch)."""
    if service == "forum":
        return bool(run.load._tasks)  # requests in flight to it
    if service == "moderation":
        return await run.db.fetchval("SELECT count(*) FROM forum.posts WHERE status = 'pending'") >= 1
    return await run.db.fetchval(
        "SELECT count(*) FROM notifications.deliveries WHERE status = 'pending'") >= 1 or \
        await run.db.fetchval("SELECT count(*) FROM moderation.outbox WHERE sent_at > now() - interval '1 second'") >= 1


@pytest.mark.timeout(420)
async def test_each_service_sigkilled_mid_batch(open_run, postgres, kafka) -> None:
    async with open_run("service_sigkill", admin_dsn=postgres.dsn(), bootstrap_servers=kafka.bootstrap_servers) as run:
        await run.start_load(refused_is_bad=False)  # a dead forum refuses connections: that is the fault
        await run.wait_posts(15)
        for name in ("forum", "moderation", "notifications"):
            service = run.services[name].instances[0]  # one replica crashes; the other goes on serving
            await eventually(lambda name=name: _busy(run, name), timeout=60, interval=0.02,
                             what=f"{name} busy before the kill")
            await service.kill()
            run.faults += 1
            await run.wait_posts(5) if name != "forum" else None
            await service.start()
            recovered = run.watch_recovery()
            await run.wait_posts(15)
            await recovered
        await run.finish()
        assert sum(n for (op, status), n in run.load.stats.statuses.items() if status == 500) == 0
