"""`make soak`: 30 minutes at 10 posts/s with a fault every few minutes, the six kinds in turn.

One system for the whole run, built so that every kind of fault the reliability suite injects
can happen to it: its own PostgreSQL (restarted), a 3-node KRaft cluster (a partition leader
SIGKILLed) whose nodes forum and moderation reach through TCP proxies the test owns (the link
cut), the three services as two processes each (one of each SIGKILLed; moderation stopped),
and a replayer that re-produces every record while poison is injected. The faults come in
turn, one every ``HAVEN_SOAK_FAULT_EVERY_S`` seconds (default 240):

    kafka_leader_sigkill, service_sigkill, postgres_restart, kafka_link_cut,
    duplicates_and_poison, moderation_outage, and again from the first

Each fault prints one line when the system has recovered from it (every post accepted so far
decided at its latest version)::

    soak fault=<kind> at_min=<m> accepted=<n> recovery_s=<s> rss_mb=forum-1:<mb>,...

At the end the books are reconciled as in the reliability suite (nothing lost, nothing
doubled) and the services' resident memory at the start (after a minute of load) and at the
end is printed. Memory growth is asserted under ``HAVEN_SOAK_RSS_GROWTH`` (10 %) for the
processes that ran the whole soak (the second instance of forum and notifications; the
others are killed or stopped by the faults, and their numbers are printed for reading).

    make soak                                            # 30 minutes
    HAVEN_SOAK_MINUTES=8 HAVEN_SOAK_FAULT_EVERY_S=60 make soak   # every kind once, quickly
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from services.common.embedded._local import free_ports
from services.common.embedded.postgres import EmbeddedPostgres
from tests.reliability.test_kafka_leader_kill import leader_of
from tests.support.chaos import Replayer, inject_poison
from tests.support.cluster import HOST, KafkaCluster
from tests.support.processes import ServiceProcess
from tests.support.proxy import TcpProxy

MINUTES = float(os.environ.get("HAVEN_SOAK_MINUTES", "30"))
RATE = float(os.environ.get("HAVEN_SOAK_RATE", "10"))
FAULT_EVERY_S = float(os.environ.get("HAVEN_SOAK_FAULT_EVERY_S", "240"))
RSS_GROWTH = float(os.environ.get("HAVEN_SOAK_RSS_GROWTH", "0.10"))
WARM_UP_S = 60.0
PG_DOWN_S, CUT_S, OUTAGE_S = 6.0, 10.0, 60.0
KINDS = ("kafka_leader_sigkill", "service_sigkill", "postgres_restart", "kafka_link_cut", "duplicates_and_poison",
         "moderation_outage")
REPLAYED_TOPICS = ["forum.posts", "forum.reports", "forum.activity", "forum.accounts", "moderation.decisions",
                   "moderation.escalations", "moderation.actions"]
POISON_PER_TOPIC = 10


def rss_mb(process: ServiceProcess) -> float:
    """Resident memory of a running service process, in MB (Linux /proc)."""
    if not process.running():
        return float("nan")
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Soak:
    """The faults, each a coroutine that breaks something and puts it back."""

    def __init__(self, run, cluster: KafkaCluster, proxies: list[TcpProxy], postgres: EmbeddedPostgres) -> None:
        self.run, self.cluster, self.proxies, self.postgres = run, cluster, proxies, postgres
        self.restarted: set[str] = set()  # processes a fault killed or stopped (their memory starts over)

    def processes(self) -> list[ServiceProcess]:
        return [p for group in self.run.services.services.values() for p in group.instances]

    def memory(self) -> dict[str, float]:
        return {f"{p.name}-{p.instance}": rss_mb(p) for p in self.processes()}

    async def kafka_leader_sigkill(self) -> None:
        loop = asyncio.get_running_loop()
        topic = self.run.names.name("forum.posts")
        leader = await leader_of(self.cluster.bootstrap_servers, topic)
        await loop.run_in_executor(None, self.cluster.kill, leader)
        await self.run.wait_seconds_of_load(30)
        await loop.run_in_executor(None, self.cluster.restart, leader)

    async def service_sigkill(self) -> None:
        for name in ("forum", "moderation", "notifications"):
            victim = self.run.services[name].instances[0]
            await victim.kill()
            self.restarted.add(f"{name}-1")
            await self.run.wait_seconds_of_load(5)
            await victim.start()

    async def postgres_restart(self) -> None:
        loop = asyncio.get_running_loop()
        await self.run.db.close()
        await loop.run_in_executor(None, self.postgres.stop)
        self.run.sends_may_go_unrecorded = True  # an e-mail sent just before the stop cannot be marked sent
        await self.run.wait_seconds_of_load(PG_DOWN_S)
        await loop.run_in_executor(None, self.postgres.start)
        self.run.db = await asyncpg.connect(self.run.database_url)

    async def kafka_link_cut(self) -> None:
        for proxy in self.proxies:
            await proxy.cut()
        await self.run.wait_seconds_of_load(CUT_S)
        for proxy in self.proxies:
            proxy.restore()

    async def duplicates_and_poison(self) -> None:
        replayer = Replayer(self.cluster.bootstrap_servers, self.run.names, REPLAYED_TOPICS, from_latest=True)
        await replayer.start()
        try:
            injected = await inject_poison(self.cluster.bootstrap_servers, self.run.names, {
                "forum.posts": POISON_PER_TOPIC, "forum.reports": POISON_PER_TOPIC,
                "moderation.decisions": POISON_PER_TOPIC, "moderation.escalations": POISON_PER_TOPIC})
            for key, n in injected.items():
                self.run.poison[key] = self.run.poison.get(key, 0) + n
            await self.run.wait_seconds_of_load(20)
            await replayer.catch_up()
        finally:
            await replayer.stop()

    async def moderation_outage(self) -> None:
        moderation = self.run.services["moderation"]
        await moderation.stop()
        self.restarted.update(f"moderation-{p.instance}" for p in moderation.instances)
        await self.run.wait_seconds_of_load(OUTAGE_S)
        await moderation.start()


@pytest.fixture
def soak_postgres(session_dir: Path):
    server = EmbeddedPostgres(session_dir / f"soak-postgres-{uuid.uuid4().hex[:6]}")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def proxied_cluster(session_dir: Path, kafka_libs: Path):
    """Three nodes, each with a proxy in front of its second listener (what forum and moderation use)."""
    ports = free_ports(HOST, 3)
    cluster = KafkaCluster(session_dir / f"soak-cluster-{uuid.uuid4().hex[:6]}", kafka_libs, size=3, proxied=True,
                           advertised_proxy_port={node_id: ports[node_id - 1] for node_id in (1, 2, 3)})
    proxies = [TcpProxy(HOST, cluster.nodes[node_id].proxied_port, port=ports[node_id - 1]) for node_id in (1, 2, 3)]
    loop = asyncio.get_running_loop()
    for proxy in proxies:
        await proxy.start()
    try:
        await loop.run_in_executor(None, cluster.start)
        yield cluster, proxies
    finally:
        for proxy in proxies:
            await proxy.close()
        await loop.run_in_executor(None, cluster.stop)


@pytest.mark.timeout(int(MINUTES * 60) + 1200)
async def test_soak(open_run, soak_postgres, proxied_cluster) -> None:
    cluster, proxies = proxied_cluster
    through_proxies = {"KAFKA_BOOTSTRAP_SERVERS": ",".join(proxy.address for proxy in proxies)}
    async with open_run("soak", admin_dsn=soak_postgres.dsn(), bootstrap_servers=cluster.bootstrap_servers,
                        replication=3, per_service={"forum": through_proxies, "moderation": through_proxies}) as run:
        soak = Soak(run, cluster, proxies, soak_postgres)
        started = time.monotonic()
        ends_at = started + MINUTES * 60
        await run.start_load(rate=RATE, refused_is_bad=False)  # a killed forum refuses: that is the fault
        await run.wait_seconds_of_load(WARM_UP_S)
        memory_at_start = soak.memory()
        _say(run, f"soak start rss_mb={_mb(memory_at_start)}")
        n = 0
        while time.monotonic() + FAULT_EVERY_S <= ends_at:
            await run.wait_seconds_of_load(max(0.0, started + WARM_UP_S + n * FAULT_EVERY_S - time.monotonic()))
            kind = KINDS[n % len(KINDS)]
            fault_at = time.monotonic()
            await getattr(soak, kind)()
            run.faults += 1
            recovery = await run.watch_recovery(timeout=FAULT_EVERY_S)
            _say(run, f"soak fault={kind} at_min={(fault_at - started) / 60:.1f} "
                      f"accepted={len(run.load.stats.accepted)} recovery_s={recovery:.1f} rss_mb={_mb(soak.memory())}")
            assert not math.isnan(recovery), f"no recovery from {kind} within {FAULT_EVERY_S:.0f}s"
            n += 1
        await run.wait_seconds_of_load(max(0.0, ends_at - time.monotonic()))
        memory_at_end = soak.memory()
        await run.finish(settle_timeout=300)
        _say(run, f"soak end minutes={(time.monotonic() - started) / 60:.1f} faults={run.faults} "
                  f"rss_mb_start={_mb(memory_at_start)} rss_mb_end={_mb(memory_at_end)}")
        whole_run = [name for name in memory_at_start if name not in soak.restarted]
        growth = {name: memory_at_end[name] / memory_at_start[name] - 1 for name in whole_run}
        _say(run, "soak rss_growth " + ",".join(f"{name}:{g:+.1%}" for name, g in growth.items()))
        too_much = {name: g for name, g in growth.items() if g > RSS_GROWTH}
        assert not too_much, f"resident memory grew over {RSS_GROWTH:.0%}: {too_much}"


def _mb(memory: dict[str, float]) -> str:
    return ",".join(f"{name}:{mb:.0f}" for name, mb in memory.items())


def _say(run, line: str) -> None:
    if run.terminal is not None:
        run.terminal.write_line(line)
    print(line, flush=True)
