"""Inbox / consumer-loop contract, run against every service's schema.

At-least-once delivery in, exactly-once effect: duplicates are skipped, a
failed effect leaves no inbox row (so it is retried), poison goes to the DLQ
and the partition moves on, offsets are committed only after the effect.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
from aiokafka import AIOKafkaProducer

from services.common.consumer import ConsumerLoop
from services.common.envelope import Event
from services.common.errors import EventError
from services.common.kafka import make_producer
from services.common.topics import FORUM_POSTS, dlq
from tests.contract.conftest import SchemaUnderTest
from tests.support.topics import read_topic
from tests.support.waiting import eventually


class RecordingHandler:
    """Records every attempt, and the events whose effect completed inside the inbox transaction."""

    def __init__(self, fail_first: set[str] | None = None, poison: set[str] | None = None) -> None:
        self.attempts: dict[str, int] = {}
        self.committed: list[str] = []
        self._fail_first = fail_first or set()
        self._poison = poison or set()

    async def prepare(self, events: list[Event]) -> None:
        return None

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        self.attempts[event.id] = self.attempts.get(event.id, 0) + 1
        if event.id in self._poison:
            raise EventError("this event can never apply")
        await conn.execute("SELECT 1")
        if event.id in self._fail_first and self.attempts[event.id] == 1:
            raise RuntimeError("transient failure inside the transaction")
        self.committed.append(event.id)


def _event(n: int) -> Event:
    return Event.create("post.deleted", key=f"k{n % 3}", producer="contract-test",
                        data={"post_id": str(uuid.uuid4()), "version": n})


async def _run(sut: SchemaUnderTest, handler: RecordingHandler, values: list[tuple[bytes, bytes]],
               handled: int, *, backlog: bool = False) -> ConsumerLoop:
    """Run a consumer loop until it has handled ``handled`` records (applied, skipped or dead-lettered).

    ``backlog``: every record is on the topic before the loop starts, so it reads them as one batch
    (the loop's one-transaction batch path) rather than one by one as they arrive.
    """
    producer = make_producer(sut.isolation.bootstrap_servers, "contract-dlq")
    await producer.start()
    loop = ConsumerLoop(name=f"contract-{sut.schema}", pool=sut.pool,
                        bootstrap_servers=sut.isolation.bootstrap_servers, topic_names=sut.topics,
                        topics=[FORUM_POSTS], handler=handler, producer=producer, max_attempts=3)
    raw = AIOKafkaProducer(bootstrap_servers=sut.isolation.bootstrap_servers)
    await raw.start()
    task = None if backlog else asyncio.create_task(loop.run())
    try:
        for key, value in values:
            await raw.send_and_wait(sut.topics.name(FORUM_POSTS), value, key=key, partition=0)
        task = task or asyncio.create_task(loop.run())
        async def caught_up() -> bool:
            stats = loop.stats
            return stats.applied + stats.duplicates + stats.dead_lettered >= handled

        await eventually(caught_up, timeout=45, what="consumer caught up")
    finally:
        await raw.stop()
        loop.stop()
        if task is not None:
            await asyncio.wait_for(task, 20)
        await producer.stop()
    return loop


async def _inbox_count(sut: SchemaUnderTest) -> int:
    async with sut.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", f"contract-{sut.schema}")


async def test_duplicates_are_applied_once(service_schema: SchemaUnderTest) -> None:
    sut = service_schema
    events = [_event(n) for n in range(5)]
    values = [(e.key.encode(), e.to_json()) for e in events for _ in range(2)]  # every event twice
    handler = RecordingHandler()
    consumer = await _run(sut, handler, values, handled=10)
    assert sorted(handler.committed) == sorted(e.id for e in events)
    assert (consumer.stats.applied, consumer.stats.duplicates) == (5, 5)
    assert await _inbox_count(sut) == 5


async def test_a_failed_effect_is_retried_and_applied_once(service_schema: SchemaUnderTest) -> None:
    sut = service_schema
    events = [_event(n) for n in range(3)]
    handler = RecordingHandler(fail_first={events[1].id})
    consumer = await _run(sut, handler, [(e.key.encode(), e.to_json()) for e in events], handled=3)
    assert handler.attempts[events[1].id] == 2
    assert sorted(handler.committed) == sorted(e.id for e in events)
    assert consumer.stats.retries == 1 and consumer.stats.dead_lettered == 0


async def test_a_failure_inside_a_batch_keeps_the_events_before_it_and_retries_from_it(
        service_schema: SchemaUnderTest) -> None:
    """A clean batch is applied in one transaction; event k failing there must neither lose the
    events before it nor apply anything twice: k is retried, and k+1.. are applied once."""
    sut = service_schema
    events = [_event(n) for n in range(8)]
    handler = RecordingHandler(fail_first={events[3].id})
    values = [(e.key.encode(), e.to_json()) for e in events] + [(events[1].key.encode(), events[1].to_json())]
    consumer = await _run(sut, handler, values, handled=9, backlog=True)
    assert handler.attempts[events[3].id] == 2
    assert all(handler.attempts[e.id] == 1 for e in events if e is not events[3])
    assert sorted(handler.committed) == sorted(e.id for e in events)
    assert (consumer.stats.applied, consumer.stats.duplicates, consumer.stats.retries) == (8, 1, 1)
    assert await _inbox_count(sut) == 8


async def test_poison_goes_to_the_dlq_and_the_partition_moves_on(service_schema: SchemaUnderTest) -> None:
    sut = service_schema
    before, bad, after = _event(1), _event(2), _event(3)
    handler = RecordingHandler(poison={bad.id})
    values = [(b"x", b"{not json"), (before.key.encode(), before.to_json()), (bad.key.encode(), bad.to_json()),
              (after.key.encode(), after.to_json())]
    consumer = await _run(sut, handler, values, handled=4)
    assert sorted(handler.committed) == sorted([before.id, after.id])
    assert consumer.stats.dead_lettered == 2
    assert handler.attempts[bad.id] == 1, "a non-retryable error must not be retried"
    dead = await read_topic(sut.isolation.bootstrap_servers, sut.topics.name(dlq(FORUM_POSTS)), expected=2)
    errors = sorted(json.loads(d)["error"].split(":")[0] for d in dead)
    assert errors == ["EventError", "EventError"]


async def test_offsets_are_committed_after_the_effect(service_schema: SchemaUnderTest) -> None:
    """A second consumer of the same group resumes after the applied events: nothing re-applied."""
    sut = service_schema
    first = [_event(n) for n in range(3)]
    await _run(sut, RecordingHandler(), [(e.key.encode(), e.to_json()) for e in first], handled=3)
    later = _event(9)
    handler = RecordingHandler()
    consumer = await _run(sut, handler, [(later.key.encode(), later.to_json())], handled=1)
    assert handler.committed == [later.id]
    assert consumer.stats.duplicates == 0, "committed offsets were not honoured"
