"""Scenario 4: the link between two services (forum, moderation) and Kafka cut, then restored.

A dedicated broker has a second listener, ``PROXIED``, that advertises the address of a TCP
proxy the test owns; forum and moderation bootstrap through the proxy, so every
connection they make (bootstrap and the broker address metadata hands back) crosses it.
Notifications and the test use the direct listener. ``cut()`` resets every connection and
refuses new ones for ``HAVEN_RELIABILITY_CUT_S`` seconds (default 10): forum keeps
accepting posts (the outbox holds their events), its relay and both consumers must find
their way back on their own. ``recovery_s``: from the restore until every post accepted
so far is decided.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from services.common.embedded._local import free_ports
from tests.support.cluster import HOST, KafkaCluster
from tests.support.proxy import TcpProxy

CUT_S = float(os.environ.get("HAVEN_RELIABILITY_CUT_S", "10"))


@pytest.fixture
async def proxied_kafka(session_dir: Path, kafka_libs: Path):
    proxy_port = free_ports(HOST, 1)[0]
    node = KafkaCluster(session_dir / f"proxied-{uuid.uuid4().hex[:6]}", kafka_libs, size=1, proxied=True,
                        advertised_proxy_port=proxy_port)
    proxy = TcpProxy(HOST, node.nodes[1].proxied_port, port=proxy_port)
    loop = asyncio.get_running_loop()
    await proxy.start()
    try:
        await loop.run_in_executor(None, node.start)
        yield node, proxy
    finally:
        await proxy.close()
        await loop.run_in_executor(None, node.stop)


@pytest.mark.timeout(300)
async def test_service_kafka_link_cut_and_restored(open_run, postgres, proxied_kafka) -> None:
    node, proxy = proxied_kafka
    through_proxy = {"KAFKA_BOOTSTRAP_SERVERS": proxy.address}
    async with open_run("kafka_link_cut", admin_dsn=postgres.dsn(), bootstrap_servers=node.bootstrap_servers,
                        per_service={"forum": through_proxy, "moderation": through_proxy}) as run:
        await run.start_load()
        await run.wait_posts(20)
        assert proxy.connections > 0, "forum and moderation talk to Kafka through the proxy"
        await proxy.cut()
        run.faults += 1
        accepted_before = len(run.load.stats.accepted)
        await run.wait_seconds_of_load(CUT_S)
        assert len(run.load.stats.accepted) > accepted_before, "posting goes on while Kafka is unreachable"
        proxy.restore()
        recovered = run.watch_recovery()
        await run.wait_posts(20)
        await recovered
        await run.finish()
