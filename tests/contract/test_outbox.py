"""Outbox contract, run against every service's schema: nothing lost, nothing sent twice, order per key.

The commit-order gap (see ``services/common/outbox.py``): a row can commit after
a row with a higher id has been published. The relay must still publish it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

from services.common import outbox
from services.common.envelope import Event
from services.common.kafka import make_producer
from services.common.outbox import OutboxRelay
from services.common.topics import FORUM_POSTS
from tests.contract.conftest import SchemaUnderTest
from tests.support.topics import read_topic
from tests.support.waiting import eventually


def _event(key: str, sequence: int) -> Event:
    return Event.create("post.deleted", key=key, producer="contract-test", data={"post_id": key, "version": sequence})


async def _start_relay(sut: SchemaUnderTest) -> tuple[OutboxRelay, asyncio.Task, object]:
    producer = make_producer(sut.isolation.bootstrap_servers, f"relay-{uuid.uuid4().hex[:6]}")
    await producer.start()
    relay = OutboxRelay(pool=sut.pool, dsn=sut.dsn, schema=sut.schema, producer=producer, topics=sut.topics,
                        poll_seconds=0.2, batch_size=20)
    return relay, asyncio.create_task(relay.run()), producer


async def _stop_relay(relay: OutboxRelay, task: asyncio.Task, producer) -> None:
    relay.stop()
    await asyncio.wait_for(task, 15)
    await producer.stop()


async def _consume(sut: SchemaUnderTest, expected: int) -> list[Event]:
    values = await read_topic(sut.isolation.bootstrap_servers, sut.topics.name(FORUM_POSTS), expected=expected,
                              timeout=60, linger=1.5)  # anything past ``expected`` would be a duplicate
    return [Event.from_json(value) for value in values]


async def test_a_row_that_commits_late_is_still_published(service_schema: SchemaUnderTest) -> None:
    sut = service_schema
    relay, task, producer = await _start_relay(sut)
    late, early = _event("late", 1), _event("early", 1)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def slow_writer() -> None:
        async with sut.pool.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, FORUM_POSTS, late)  # takes the lower id...
            holding.set()
            await release.wait()  # ...and commits last

    writer = asyncio.create_task(slow_writer())
    await holding.wait()
    async with sut.pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, FORUM_POSTS, early)
    await eventually(lambda: _sent(sut, early.id), what="the early row published")
    release.set()
    await writer
    await eventually(lambda: _sent(sut, late.id), what="the late-committing row published")
    await _stop_relay(relay, task, producer)
    assert sorted(e.id for e in await _consume(sut, 2)) == sorted([late.id, early.id])


async def test_two_relays_over_concurrent_writers_publish_everything_once_in_key_order(
    service_schema: SchemaUnderTest,
) -> None:
    sut = service_schema
    writers, keys_per_writer, events_per_key = 6, 3, 12

    async def writer(number: int) -> list[Event]:
        written = []
        keys = [f"w{number}-k{k}" for k in range(keys_per_writer)]
        for sequence in range(1, events_per_key + 1):
            async with sut.pool.acquire() as conn, conn.transaction():
                for key in keys:
                    event = _event(key, sequence)
                    await outbox.enqueue(conn, FORUM_POSTS, event)
                    written.append(event)
            await asyncio.sleep(0)  # let the other writers and both relays interleave
        return written

    relays = [await _start_relay(sut) for _ in range(2)]
    written = [e for batch in await asyncio.gather(*(writer(n) for n in range(writers))) for e in batch]
    total = writers * keys_per_writer * events_per_key
    assert len(written) == total
    await eventually(lambda: _unsent_is_zero(sut), timeout=60, what="every outbox row sent")
    published = [relay.stats.published for relay, _, _ in relays]
    for relay in relays:
        await _stop_relay(*relay)

    received = await _consume(sut, total)
    ids = [e.id for e in received]
    assert len(ids) == total and set(ids) == {e.id for e in written}, "lost or duplicated events"
    assert sum(published) == total
    by_key: dict[str, list[int]] = defaultdict(list)
    for event in received:
        by_key[event.key].append(event.data["version"])
    assert all(seq == sorted(seq) for seq in by_key.values()), "per-key order broken"


async def _sent(sut: SchemaUnderTest, event_id: str) -> bool:
    async with sut.pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT sent_at IS NOT NULL FROM outbox WHERE event_id = $1",
                                        uuid.UUID(event_id)))


async def _unsent_is_zero(sut: SchemaUnderTest) -> bool:
    async with sut.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
