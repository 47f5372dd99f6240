"""Fault injection under load: shared infrastructure and the harness every scenario uses.

Each scenario owns what it breaks: its own database and topic prefix always, its own
Kafka (a 3-node cluster, a proxied node) or PostgreSQL where it kills or restarts
them. The services run as real processes (``python -m services.<name>``), so a SIGKILL
is a real crash. Each scenario prints one line::

    scenario=<name> posts_per_s=<n> instances=<n> faults=<n> checked=<n> lost=<n> doubled=<n> recovery_s=<n>

at once (on the terminal, past pytest's capture), again in the summary at the end of the
run, and appended to ``.haven/reliability/results.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from services.common.embedded.kafka import EmbeddedKafka
from services.common.embedded.postgres import EmbeddedPostgres
from services.common.topics import TopicNames, ensure_topics
from tests.support.infra import drop_database, isolated_database
from tests.support.invariants import Books, SmtpSink, WebhookReceiver, settle
from tests.support.loadgen import LoadGenerator, LoadStats, Member, create_staff, ensure_community, login, register
from tests.support.processes import ServiceProcesses
from tests.support.waiting import eventually

RESULTS_FILE = Path(__file__).resolve().parents[2] / ".haven" / "reliability" / "results.log"
RATE = float(os.environ.get("HAVEN_RELIABILITY_RATE", "20"))  # posts per second (README: why not 100)
# Processes per service: two members of every consumer group, the load spread over two forums.
INSTANCES = int(os.environ.get("HAVEN_RELIABILITY_INSTANCES", "2"))
LINES: list[str] = []
# A crisis post's 201 in forum → its crisis-staff notification stored (and the pager's webhook received).
CRISIS_BUDGET_S = 2.0

# Each crisis post's crisis-staff notification, with the seconds from the post's creation in forum to the notification's.
PAGED = """
SELECT p.id::text AS post_id,
       extract(epoch FROM n.created_at - p.created_at) AS seconds,
       n.id::text AS notification_id
FROM forum.posts p
LEFT JOIN notifications.notifications n
  ON n.type = 'crisis.escalation' AND n.recipient_role = 'crisis_staff' AND n.data->>'post_id' = p.id::text
WHERE p.id = ANY($1::uuid[])
"""


@dataclass(frozen=True)
class Paging:
    """How fast crisis posts reached crisis staff: seconds from each post's creation to its notification."""

    seconds: list[float]

    @property
    def count(self) -> int:
        return len(self.seconds)

    @property
    def p50(self) -> float:
        return self.seconds[len(self.seconds) // 2]

    @property
    def p99(self) -> float:
        return self.seconds[min(len(self.seconds) - 1, int(0.99 * len(self.seconds)))]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if LINES:
        terminalreporter.section("reliability scenarios")
        for line in LINES:
            terminalreporter.write_line(line)


# --------------------------------------------------------------------------- infrastructure


@pytest.fixture(scope="session")
def postgres(session_dir: Path) -> Iterator[EmbeddedPostgres]:
    """This directory's own PostgreSQL (scenarios that restart one start another)."""
    server = EmbeddedPostgres(session_dir / "reliability-postgres")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka(session_dir: Path, kafka_libs: Path) -> Iterator[EmbeddedKafka]:
    broker = EmbeddedKafka(session_dir / "reliability-kafka", kafka_libs)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# --------------------------------------------------------------------------- the harness


def base_env(token_keys: tuple[Path, Path], marker_model: tuple[Path, Path]) -> dict[str, str]:
    private, public = token_keys
    checkpoint, config_dir = marker_model
    many = "100000"
    return {
        "TOKEN_PUBLIC_KEY_FILE": str(public), "TOKEN_PRIVATE_KEY_FILE": str(private),
        "DETOXIFY_CHECKPOINT": str(checkpoint), "DETOXIFY_HF_CONFIG_PATH": str(config_dir),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TORCH_THREADS": "1",
        "LOG_LEVEL": "WARNING", "OUTBOX_POLL_SECONDS": "0.5", "DB_POOL_MAX": "5",
        # The load, not the limits, is under test.
        "POSTS_PER_MINUTE": many, "REPORTS_PER_MINUTE": many, "AUTH_ATTEMPTS_PER_MINUTE": many,
        "REGISTRATIONS_PER_HOUR": many,
        "PENDING_SWEEP_SECONDS": "10", "CRISIS_REPAGE_SECONDS": "3600", "QUEUE_BATCH_SECONDS": "1",
        "DELIVERY_BACKOFF_SECONDS": "0.2", "DELIVERY_BACKOFF_MAX_SECONDS": "2",
        "DELIVERY_LEASE_SECONDS": "4", "DELIVERY_TIMEOUT_SECONDS": "2",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",  # the pager (WebhookReceiver) listens there
    }


@dataclass
class Run:
    """One scenario's system: processes, a pager, members, the load, and the books."""

    name: str
    database_url: str
    bootstrap_servers: str
    names: TopicNames
    services: ServiceProcesses
    db: asyncpg.Connection
    receiver: WebhookReceiver
    terminal: object
    authors: list[Member] = field(default_factory=list)
    reporter: Member | None = None
    load: LoadGenerator | None = None
    smtp: SmtpSink | None = None
    rota_emails: list[str] = field(default_factory=list)
    faults: int = 0
    # The fault can leave a sent e-mail unrecorded (the sender's process died, or PostgreSQL went away
    # between SMTP's 250 and MARK_SENT): its lease expires and it is sent again. SMTP has no idempotency
    # key, so the books then allow one repeat per (address, escalation), never more.
    sends_may_go_unrecorded: bool = False
    recoveries: list[float] = field(default_factory=list)
    poison: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def forum_url(self) -> str:
        return self.services["forum"].url

    @property
    def notifications_url(self) -> str:
        return self.services["notifications"].url

    async def populate(self) -> None:
        """Two crisis workers on the rota, a pager for crisis staff and moderators, four authors, a reporter."""
        await ensure_community(self.database_url)
        admin = await login(self.forum_url, await create_staff(self.database_url, "admin"))
        workers = [await login(self.forum_url, await create_staff(self.database_url, "crisis_staff"))
                   for _ in range(2)]
        for worker in workers:
            address = f"{worker.handle}@example.org"
            async with aiohttp.ClientSession(headers=worker.auth) as http:
                async with http.put(f"{self.notifications_url}/v1/preferences", json={"email": address}) as r:
                    assert r.status == 200, await r.text()
            self.rota_emails.append(address)
        async with aiohttp.ClientSession(headers=admin.auth) as http:
            for worker in workers:
                async with http.put(f"{self.notifications_url}/v1/rota/{worker.id}",
                                    json={"tier": 1, "on_rota": True}) as r:
                    assert r.status == 200, await r.text()
            for role in ("crisis_staff", "moderator"):
                async with http.post(f"{self.notifications_url}/v1/webhooks",
                                     json={"url": self.receiver.url, "role": role}) as r:
                    assert r.status == 201, await r.text()
        self.authors = [await register(self.forum_url) for _ in range(4)]
        self.reporter = await register(self.forum_url)

    async def start_load(self, rate: float = RATE, **options) -> LoadGenerator:
        self.load = LoadGenerator(self.services["forum"].urls, self.authors, self.reporter, rate=rate, **options)
        await self.load.start()
        return self.load

    async def wait_posts(self, n: int, timeout: float = 60.0) -> None:
        """Until the load has had ``n`` more posts accepted (load-driven pacing, not a sleep)."""
        assert self.load is not None
        target = len(self.load.stats.accepted) + n
        deadline = time.monotonic() + timeout
        while len(self.load.stats.accepted) < target:
            assert time.monotonic() < deadline, f"the load got no {n} posts accepted in {timeout:.0f}s: " \
                                                f"{self.load.stats.summary()}"
            await asyncio.sleep(0.1)

    async def wait_seconds_of_load(self, seconds: float) -> None:
        """Keep the load running for ``seconds`` (the fault's duration: a span of time by definition)."""
        await asyncio.sleep(seconds)

    def watch_recovery(self, timeout: float = 240.0) -> asyncio.Task:
        """From now: seconds until every post accepted so far is decided at its latest version."""
        assert self.load is not None
        backlog = [uuid.UUID(p) for p in self.load.stats.accepted]
        started = time.monotonic()

        async def watch() -> float:
            while time.monotonic() - started < timeout:
                left = await self.db.fetchval(
                    "SELECT count(*) FROM forum.posts WHERE id = ANY($1::uuid[]) "
                    "AND (status = 'pending' OR decided_version IS DISTINCT FROM version)", backlog)
                if left == 0:
                    self.recoveries.append(time.monotonic() - started)
                    return self.recoveries[-1]
                await asyncio.sleep(0.25)
            return float("nan")

        return asyncio.create_task(watch())

    def watch_first_accept(self, timeout: float = 120.0) -> asyncio.Task:
        """From now: seconds until the load has a post accepted again (the service took writes again)."""
        assert self.load is not None
        before = len(self.load.stats.accepted)
        started = time.monotonic()

        async def watch() -> float:
            while len(self.load.stats.accepted) == before and time.monotonic() - started < timeout:
                await asyncio.sleep(0.05)
            self.recoveries.append(time.monotonic() - started)
            return self.recoveries[-1]

        return asyncio.create_task(watch())

    async def crisis_paging(self, post_ids: list[str], *, what: str, timeout: float = 60.0) -> Paging:
        """Once every crisis post in ``post_ids`` has its notification and the pager got it: the latencies."""
        async def all_paged() -> list | None:
            rows = await self.db.fetch(PAGED, post_ids)
            paged = [r for r in rows if r["notification_id"] and r["notification_id"] in self.receiver.received]
            return rows if len(paged) == len(post_ids) else None

        rows = await eventually(all_paged, timeout=timeout, what=what)
        return Paging(sorted(float(r["seconds"]) for r in rows))

    async def finish(self, *, settle_timeout: float = 120.0, expect_clean_http: bool = True) -> Books:
        """Stop the load, reconcile, print the line, assert nothing lost or doubled."""
        assert self.load is not None
        stats: LoadStats = await self.load.stop()
        await self.load.report_remaining()
        books, _ = await settle(self.db, stats, timeout=settle_timeout, receiver=self.receiver,
                                bootstrap_servers=self.bootstrap_servers, names=self.names, poison=self.poison,
                                smtp=self.smtp, rota_emails=self.rota_emails,
                                resends_allowed=self.services["notifications"].kills > 0
                                or self.sends_may_go_unrecorded)
        recovery = max(self.recoveries) if self.recoveries else 0.0
        line = (f"scenario={self.name} posts_per_s={stats.posts_per_s:.1f} instances={INSTANCES} faults={self.faults} "
                f"checked={books.checked} lost={books.lost} doubled={books.doubled} recovery_s={recovery:.1f}")
        emit(self.terminal, line)
        detail = f"  http: {stats.summary()}; reports={len(stats.reports)}; " \
                 f"webhook requests={self.receiver.requests}; " \
                 f"e-mails={len(self.smtp.messages) if self.smtp else 0}; dead-lettered={books.dead_lettered} " \
                 f"(poison injected: {sum(self.poison.values())})"
        emit(self.terminal, detail, record=False)
        for problem in books.problems:
            emit(self.terminal, f"  {problem}", record=False)
        assert books.lost == 0 and books.doubled == 0, "\n".join(books.problems)
        if expect_clean_http:
            assert not stats.bad, f"requests answered badly: {stats.bad[:10]}"
        return books


def emit(terminal, line: str, *, record: bool = True) -> None:
    if record:
        LINES.append(line)
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS_FILE.open("a") as results:
            results.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
    if terminal is not None:
        terminal.write_line(line)
    else:
        print(line, flush=True)


@pytest.fixture
def terminal(request: pytest.FixtureRequest):
    return request.config.pluginmanager.get_plugin("terminalreporter")


@pytest.fixture
def open_run(token_keys, marker_model, terminal, tmp_path: Path):
    """``async with open_run(name, admin_dsn=..., bootstrap_servers=...) as run``: a scenario's whole system."""

    @contextlib.asynccontextmanager
    async def opener(name: str, *, admin_dsn: str, bootstrap_servers: str, replication: int = 1,
                     env: dict[str, str] | None = None,
                     per_service: dict[str, dict[str, str]] | None = None) -> AsyncIterator[Run]:
        async with contextlib.AsyncExitStack() as cleanup:
            database_url, database = await isolated_database(admin_dsn)
            cleanup.push_async_callback(drop_database, admin_dsn, database)
            names = TopicNames(f"r{uuid.uuid4().hex[:8]}.")
            await ensure_topics(bootstrap_servers, names, replication_factor=replication)
            receiver = WebhookReceiver()
            await receiver.start()
            cleanup.push_async_callback(receiver.close)
            smtp = SmtpSink()
            smtp.start()
            cleanup.callback(smtp.stop)
            environment = {**base_env(token_keys, marker_model), "DATABASE_URL": database_url,
                           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_STARTTLS": "false",
                           "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, "HAVEN_TOPIC_PREFIX": names.prefix,
                           **(env or {})}
            run = Run(name, database_url, bootstrap_servers, names,
                      ServiceProcesses(environment, tmp_path / "logs", per_service, instances=INSTANCES),
                      await asyncpg.connect(database_url), receiver, terminal, smtp=smtp)
            cleanup.push_async_callback(lambda: run.db.close())  # run.db may be replaced (a restart)
            async with run.services:
                try:
                    await run.populate()
                    yield run
                except BaseException:
                    for service in run.services.services.values():
                        print(f"--- {service.name} log tail ---\n{service.tail(3000)}")
                    raise
                finally:
                    if run.load is not None:
                        await run.load.close()

    return opener
