"""Resources every service opens and closes in ``cleanup_ctx`` generators.

As in aiohttp-demos ``polls/db.py``: each generator opens one resource before
its ``yield`` and closes it after, so startup order and shutdown order are the
same code read in two directions, and a failed start closes what was opened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaProducer
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from services.common.backoff import Backoff
from services.common.config import CommonConfig
from services.common.consumer import ConsumerLoop, EventHandler
from services.common.db import close_pool, create_pool, ping
from services.common.http.appkeys import LIVENESS, METRICS, READINESS, SESSIONS, SUSPENSIONS
from services.common.kafka import make_producer
from services.common.outbox import OutboxRelay
from services.common.sampling import QuerySampler
from services.common.sessions import AccountsHandler, RoleHook
from services.common.topics import FORUM_ACCOUNTS, TopicNames

log = logging.getLogger(__name__)

POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
TOPICS = web.AppKey("topic_names", TopicNames)
ACCOUNTS_CONSUMER = web.AppKey("accounts_consumer", ConsumerLoop)


class Stoppable(Protocol):
    def stop(self) -> None: ...

    async def run(self) -> None: ...


def pool_ctx(dsn: str, schema: str, min_size: int, max_size: int):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(dsn, schema, min_size=min_size, max_size=max_size)
        app[POOL] = pool
        app[READINESS]["postgres"] = lambda: ping(pool)
        watcher = await _watch_suspensions(app, pool)
        yield
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await close_pool(pool)

    return ctx


async def _watch_suspensions(app: web.Application, pool: asyncpg.Pool) -> asyncio.Task:
    """Keep the app's suspension and session lists (``http.authenticate`` refuses those tokens) fresh
    while the pool lives."""
    suspensions, sessions = app[SUSPENSIONS], app[SESSIONS]
    for watched in (suspensions, sessions):
        try:
            await watched.refresh(pool)
        except Exception as e:  # noqa: BLE001 - the watcher retries
            log.warning("cannot read the %s list at start (%s)", type(watched).__name__.lower(), e.__class__.__name__)

    async def both() -> None:
        await asyncio.gather(suspensions.watch(pool), sessions.watch(pool))

    return asyncio.create_task(both(), name="suspensions")


def producer_ctx(bootstrap_servers: str, client_id: str):
    """Start the idempotent producer; Kafka may be down at start, so retry in the background."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        producer = make_producer(bootstrap_servers, client_id)
        app[PRODUCER] = producer
        starter = asyncio.create_task(_start_producer(producer), name="producer-start")
        app[READINESS]["kafka"] = lambda: _kafka_ready(producer, starter)
        yield
        starter.cancel()
        await asyncio.gather(starter, return_exceptions=True)
        await asyncio.shield(producer.stop())

    return ctx


async def _start_producer(producer: AIOKafkaProducer) -> None:
    backoff = Backoff(0.5, 5.0)
    while True:
        try:
            await producer.start()
            return
        except Exception as e:  # noqa: BLE001 - broker not up yet
            delay = backoff.next()
            log.warning("Kafka producer cannot connect (%s); retrying in %.1fs", e.__class__.__name__, delay)
            await asyncio.sleep(delay)


async def _kafka_ready(producer: AIOKafkaProducer, starter: asyncio.Task) -> bool:
    if not starter.done() or starter.exception() is not None:
        return False
    try:
        return bool(await asyncio.wait_for(producer.client.ready(producer.client.get_random_node()), 1.0))
    except Exception:  # noqa: BLE001 - readiness only reports
        return False


def background_ctx(name: str, make: Callable[[web.Application], Stoppable], stop_timeout: float = 15.0):
    """Run a ``Stoppable`` (relay, consumer, sweeper) for the app's lifetime.

    Shutdown asks it to stop (finish in-flight work, commit) and waits; if it
    does not finish in ``stop_timeout`` it is cancelled. While the app runs, a
    crashed task makes ``/readyz`` and ``/healthz`` answer 503 (``task:<name>``): the
    orchestrator stops routing to the instance and its liveness probe restarts it, since
    a dead relay or delivery worker never comes back by itself.
    """

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        worker = make(app)
        task = asyncio.create_task(_run_logged(name, worker), name=name)

        async def alive() -> bool:
            return not task.done()

        app[READINESS][f"task:{name}"] = alive
        app[LIVENESS][f"task:{name}"] = alive
        yield
        worker.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), stop_timeout)
        except asyncio.TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except Exception:  # noqa: BLE001 - it crashed earlier, _run_logged logged it; shut the rest down
            pass

    return ctx


async def _run_logged(name: str, worker: Stoppable) -> None:
    try:
        await worker.run()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task %s crashed", name)
        raise


def relay_ctx(dsn: str, schema: str, poll_seconds: float):
    def make(app: web.Application) -> OutboxRelay:
        relay = OutboxRelay(pool=app[POOL], dsn=dsn, schema=schema, producer=app[PRODUCER], topics=app[TOPICS],
                            poll_seconds=poll_seconds)
        backlog = QuerySampler(app[POOL], OUTBOX_BACKLOG_QUERY, name=f"outbox-backlog-{schema}")
        app[METRICS].registry.register(_RelayCollector(relay, backlog, schema))
        return _WithSamplers(relay, backlog)

    return background_ctx(f"outbox-relay-{schema}", make)


class _WithSamplers:
    """A ``Stoppable`` with the metric samplers that live exactly as long as it runs."""

    def __init__(self, main: Stoppable, *samplers: QuerySampler) -> None:
        self._main = main
        self._samplers = samplers

    def stop(self) -> None:
        self._main.stop()
        for sampler in self._samplers:
            sampler.stop()

    async def run(self) -> None:
        tasks = [asyncio.create_task(s.run(), name=f"metrics-{s.name}") for s in self._samplers]
        try:
            await self._main.run()
        finally:
            for sampler in self._samplers:
                sampler.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def consumer_ctx(key: web.AppKey[ConsumerLoop], common: CommonConfig, *, group: str, topics: list[str],
                 handler: Callable[[web.Application], EventHandler], batch_size: int = 100, task: str = "consumer"):
    """One consumer loop of a service (consumer group ``group`` on ``topics``), built once the pool and
    producer are open, run for the app's lifetime, its metrics and readiness registered.

    ``handler`` builds the service's handler from the app (handlers.py); everything else a loop needs
    comes from the common config, so every service's consumers are built the same way.
    """

    def make(app: web.Application) -> ConsumerLoop:
        loop = ConsumerLoop(name=group, pool=app[POOL], bootstrap_servers=common.kafka_bootstrap_servers,
                            topic_names=app[TOPICS], topics=topics, handler=handler(app), producer=app[PRODUCER],
                            max_attempts=common.consumer_max_attempts, batch_size=batch_size)
        app[key] = loop
        app[METRICS].registry.register(_ConsumerCollector(loop))
        app[READINESS][f"consumer:{loop.name}"] = _connected(loop)
        return loop

    return background_ctx(task, make)


def accounts_consumer_ctx(service: str, common: CommonConfig, on_role_changed: RoleHook | None = None):
    """``forum.accounts`` (ended sessions, role changes; services/common/sessions.py) on every instance of a
    service that checks tokens but does not issue them, with the service's own reaction to a role change."""
    return consumer_ctx(ACCOUNTS_CONSUMER, common, group=f"{service}-accounts", topics=[FORUM_ACCOUNTS],
                        handler=lambda _app: AccountsHandler(on_role_changed=on_role_changed),
                        task="accounts-consumer")


def _connected(loop: ConsumerLoop):
    async def check() -> bool:
        return loop.connected.is_set()

    return check


# Unsent rows of this schema's outbox (the partial index ``outbox_unsent`` covers them) and the
# age of the oldest; the pool's search_path is the service's schema.
OUTBOX_BACKLOG_QUERY = """
SELECT count(*) AS unsent,
       COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest_seconds
FROM outbox WHERE sent_at IS NULL
"""


class _RelayCollector:
    def __init__(self, relay: OutboxRelay, backlog: QuerySampler | None = None, schema: str = "") -> None:
        self._relay = relay
        self._backlog = backlog
        self._schema = schema

    def collect(self):
        published = CounterMetricFamily("haven_outbox_published", "Outbox events published to Kafka")
        published.add_metric([], self._relay.stats.published)
        failures = CounterMetricFamily("haven_outbox_publish_failures", "Outbox publish attempts that failed")
        failures.add_metric([], self._relay.stats.failures)
        families = [published, failures]
        rows = self._backlog.rows() if self._backlog is not None else None
        if rows:
            # The whole schema's backlog: every replica of a service reports the same number (use max, not sum).
            unsent = GaugeMetricFamily("haven_outbox_unsent_events",
                                       "Outbox rows not yet published to Kafka (whole schema, sampled)", labels=["schema"])
            unsent.add_metric([self._schema], rows[0]["unsent"])
            oldest = GaugeMetricFamily("haven_outbox_oldest_unsent_age_seconds",
                                       "Age of the oldest outbox row not yet published (0 when none)", labels=["schema"])
            oldest.add_metric([self._schema], rows[0]["oldest_seconds"])
            families += [unsent, oldest]
        return families


class _ConsumerCollector:
    def __init__(self, loop: ConsumerLoop) -> None:
        self._loop = loop

    def collect(self):
        events = CounterMetricFamily("haven_consumer_events", "Events handled by outcome", labels=["consumer", "outcome"])
        stats = self._loop.stats
        for outcome, value in (("applied", stats.applied), ("duplicate", stats.duplicates),
                               ("dead_lettered", stats.dead_lettered), ("retried", stats.retries)):
            events.add_metric([self._loop.name, outcome], value)
        connected = GaugeMetricFamily("haven_consumer_connected", "1 while the consumer is connected", labels=["consumer"])
        connected.add_metric([self._loop.name], 1 if self._loop.connected.is_set() else 0)
        lag = GaugeMetricFamily("haven_consumer_lag",
                                "Records on the broker this member has not fetched yet, per assigned partition",
                                labels=["consumer", "topic", "partition"])
        for (topic, partition), records in sorted(self._loop.lag().items()):
            lag.add_metric([self._loop.name, topic, str(partition)], records)
        return [events, connected, lag]
