"""The metrics the alert rules need, without infrastructure: samplers, collectors, lag, latency."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest

from services.common.consumer import ConsumerLoop
from services.common.resources import _ConsumerCollector, _RelayCollector, _WithSamplers
from services.common.sampling import QuerySampler
from services.common.topics import TopicNames
from services.moderation.metrics import EscalationCollector, ModerationMetrics


class FakePool:
    """``acquire()`` yields a connection whose ``fetch`` returns ``rows`` (or raises ``error``)."""

    def __init__(self, rows=None, error: BaseException | None = None) -> None:
        self.rows, self.error, self.queries = rows or [], error, 0

    @contextlib.asynccontextmanager
    async def acquire(self, timeout=None):
        if self.error is not None:
            raise self.error
        pool = self

        class Conn:
            async def fetch(self, query, timeout=None):
                pool.queries += 1
                return pool.rows

        yield Conn()


def exposition(*collectors) -> str:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry).decode()


async def test_sampler_keeps_the_last_rows_and_hides_stale_ones() -> None:
    pool = FakePool([{"unsent": 7, "oldest_seconds": 3.5}])
    sampler = QuerySampler(pool, "SELECT", interval=0.05)
    assert sampler.rows() is None, "nothing before the first sample"
    assert await sampler.sample()
    assert sampler.rows() == [{"unsent": 7, "oldest_seconds": 3.5}]
    pool.error = OSError("database gone")
    assert not await sampler.sample() and sampler.failures == 1
    assert sampler.rows() is not None, "a failed sample keeps the last rows for a while"
    await asyncio.sleep(0.2)
    assert sampler.rows() is None, "older than three intervals: exported no more"


async def test_sampler_runs_until_stopped() -> None:
    pool = FakePool([{"unsent": 0, "oldest_seconds": 0.0}])
    sampler = QuerySampler(pool, "SELECT", interval=0.01)
    task = asyncio.create_task(sampler.run())
    await asyncio.sleep(0.08)
    sampler.stop()
    await asyncio.wait_for(task, 1)
    assert pool.queries >= 3


async def test_relay_collector_exports_the_backlog_of_its_schema() -> None:
    relay = SimpleNamespace(stats=SimpleNamespace(published=5, failures=1))
    sampler = QuerySampler(FakePool([{"unsent": 12, "oldest_seconds": 42.0}]), "SELECT")
    text = exposition(_RelayCollector(relay, sampler, "forum"))
    assert "haven_outbox_unsent_events" not in text, "no sample yet: nothing exported"
    await sampler.sample()
    text = exposition(_RelayCollector(relay, sampler, "forum"))
    assert 'haven_outbox_unsent_events{schema="forum"} 12.0' in text
    assert 'haven_outbox_oldest_unsent_age_seconds{schema="forum"} 42.0' in text
    assert "haven_outbox_published_total 5.0" in text and "haven_outbox_publish_failures_total 1.0" in text


async def test_with_samplers_stops_the_samplers_with_the_main_task() -> None:
    class Main:
        def __init__(self):
            self.stopped = asyncio.Event()

        def stop(self):
            self.stopped.set()

        async def run(self):
            await self.stopped.wait()

    sampler = QuerySampler(FakePool([]), "SELECT", interval=0.01)
    both = _WithSamplers(Main(), sampler)
    task = asyncio.create_task(both.run())
    await asyncio.sleep(0.03)
    both.stop()
    await asyncio.wait_for(task, 1)
    assert sampler._stopped.is_set()


class FakeConsumer:
    def __init__(self, ends: dict[TopicPartition, int | None], positions: dict[TopicPartition, int], lso=True):
        self._ends, self._positions, self._lso = ends, positions, lso

    def assignment(self):
        return set(self._ends)

    def last_stable_offset(self, tp):
        return self._ends[tp] if self._lso else -1

    def highwater(self, tp):
        return self._ends[tp]

    async def position(self, tp):
        return self._positions[tp]


def make_loop() -> ConsumerLoop:
    return ConsumerLoop(name="moderation-posts", pool=None, bootstrap_servers="x", topic_names=TopicNames("t1."),
                        topics=["forum.posts"], handler=None, producer=None)


async def test_consumer_lag_is_end_minus_position_per_logical_partition() -> None:
    loop = make_loop()
    p0, p1, p2 = (TopicPartition("t1.forum.posts", i) for i in range(3))
    await loop._measure_lag(FakeConsumer({p0: 10, p1: 4, p2: None}, {p0: 3, p1: 4, p2: 0}))
    assert loop.lag() == {("forum.posts", 0): 7, ("forum.posts", 1): 0}, "p2 never fetched: unknown, left out"
    loop._lag_measured_at = 0.0
    await loop._measure_lag(FakeConsumer({p0: 12}, {p0: 2}, lso=False))  # read_uncommitted: the high watermark
    assert loop.lag() == {("forum.posts", 0): 10}
    text = exposition(_ConsumerCollector(loop))
    assert 'haven_consumer_lag{consumer="moderation-posts",partition="0",topic="forum.posts"} 10.0' in text


async def test_consumer_lag_is_measured_at_most_once_a_second() -> None:
    loop = make_loop()
    tp = TopicPartition("t1.forum.posts", 0)
    await loop._measure_lag(FakeConsumer({tp: 5}, {tp: 0}))
    await loop._measure_lag(FakeConsumer({tp: 9}, {tp: 0}))
    assert loop.lag() == {("forum.posts", 0): 5}


def test_escalation_collector_exports_every_level() -> None:
    sampler = QuerySampler(FakePool(), "SELECT")
    assert exposition(EscalationCollector(sampler)).count("haven_crisis") == 0, "no sample: nothing"
    sampler._rows = [{"level": "imminent", "unacknowledged": 2, "oldest_seconds": 130.0}]
    sampler._sampled_at = time.monotonic()
    text = exposition(EscalationCollector(sampler))
    assert 'haven_crisis_escalations_unacknowledged{level="imminent"} 2.0' in text
    assert 'haven_crisis_escalations_unacknowledged{level="watch"} 0.0' in text
    assert 'haven_crisis_escalation_oldest_unacknowledged_seconds{level="imminent"} 130.0' in text
    assert 'haven_crisis_escalation_oldest_unacknowledged_seconds{level="high"} 0.0' in text


def test_decision_latency_is_measured_from_the_event() -> None:
    registry = CollectorRegistry()
    metrics = ModerationMetrics(registry)
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    metrics.observe_decision((now - timedelta(milliseconds=300)).isoformat().replace("+00:00", "Z"), now=now)
    metrics.observe_decision((now + timedelta(seconds=1)).isoformat(), now=now)  # clock skew: counted as 0
    metrics.observe_decision("not a time", now=now)  # ignored
    text = generate_latest(registry).decode()
    assert "haven_moderation_decision_latency_seconds_count 2.0" in text
    assert 'haven_moderation_decision_latency_seconds_bucket{le="0.5"} 2.0' in text
    assert 'haven_moderation_decision_latency_seconds_bucket{le="0.1"} 1.0' in text
