"""Scenario 1: a 3-broker KRaft cluster (replication 3, ``min.insync.replicas=2``); the
leader of ``forum.posts`` partition 0 is SIGKILLed mid-load, then restarted.

With one broker of three gone every write still reaches two replicas (``acks=all``), so
producers carry on after a leader election; consumers whose group coordinator died find
the new one. The books must balance. ``recovery_s`` is the longer of two times: from the
kill, and from the broker's restart, until every post accepted by then is decided.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tests.support.cluster import KafkaCluster
from tests.support.waiting import eventually


@pytest.fixture
async def cluster(session_dir: Path, kafka_libs: Path):
    nodes = KafkaCluster(session_dir / f"cluster-{uuid.uuid4().hex[:6]}", kafka_libs, size=3)
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, nodes.start)
        yield nodes
    finally:
        await loop.run_in_executor(None, nodes.stop)


async def leader_of(bootstrap_servers: str, topic: str, partition: int = 0) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return next(p["leader"] for p in described["partitions"] if p["partition"] == partition)
    finally:
        await admin.close()


@pytest.mark.timeout(400)
async def test_partition_leader_sigkilled_mid_load(open_run, postgres, cluster: KafkaCluster) -> None:
    loop = asyncio.get_running_loop()
    async with open_run("kafka_leader_sigkill", admin_dsn=postgres.dsn(), bootstrap_servers=cluster.bootstrap_servers,
                        replication=3) as run:
        await run.start_load()
        await run.wait_posts(20)
        topic = run.names.name("forum.posts")
        leader = await leader_of(cluster.bootstrap_servers, topic)
        await loop.run_in_executor(None, cluster.kill, leader)
        run.faults += 1
        failover = run.watch_recovery()  # posts in flight at the kill: decided once a new leader is elected

        async def new_leader() -> bool:
            try:
                return await leader_of(cluster.bootstrap_servers_without(leader), topic) not in (leader, -1)
            except (KafkaError, OSError):  # metadata from a node still catching up: ask again
                return False

        await eventually(new_leader, timeout=60, interval=0.5, what="a new leader for the partition")
        await run.wait_posts(30)  # one broker down: the other two keep taking acks=all writes
        await loop.run_in_executor(None, cluster.restart, leader)
        recovered = run.watch_recovery()
        await run.wait_posts(15)
        await recovered
        await failover
        await run.finish()
