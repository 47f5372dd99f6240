"""Events on the wire made worse: every event delivered again, and poison of every shape.

:class:`Replayer` reads the service topics from the beginning and produces every record
again, same key and bytes (the same event id): what a producer retry, a consumer restart
before its commit, or an operator's replay does. Its own records carry a header, so it
never replays a replay. :func:`poison_records` builds records each consumer must send to
``<topic>.dlq``: bytes that are not JSON, JSON that is not an envelope, envelopes that
break the schema, an unknown major version, an unknown type, and tombstones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.envelope import utc_now_iso
from services.common.topics import TopicNames

MARK = "haven-test"

# Which consumers read each topic (a poison record there lands once per consumer in the DLQ).
CONSUMERS = {
    "forum.posts": ("moderation-posts", "moderation-crisis"),
    "forum.reports": ("moderation-posts", "notifications-events"),
    "moderation.decisions": ("forum-decisions", "notifications-events"),
    "moderation.escalations": ("notifications-events",),
    "moderation.actions": ("forum-decisions", "notifications-events"),
    "forum.activity": ("notifications-events",),
    "forum.accounts": ("moderation-accounts", "notifications-accounts"),
}
TYPE_OF = {"forum.posts": "post.created", "forum.reports": "report.created",
           "moderation.decisions": "decision.made", "moderation.escalations": "escalation.opened",
           "moderation.actions": "action.taken", "forum.activity": "reaction.added",
           "forum.accounts": "session.revoked"}


def _envelope(event_type: str, **changes) -> dict:
    envelope = {"id": str(uuid.uuid4()), "type": event_type, "version": 1, "occurred_at": utc_now_iso(),
                "producer": "chaos", "trace_id": str(uuid.uuid4()), "key": str(uuid.uuid4()),
                "data": {"post_id": str(uuid.uuid4())}}
    envelope.update(changes)
    return envelope


def poison_records(topic: str, n: int) -> list[bytes | None]:
    """``n`` records for ``topic`` that no consumer may apply, cycling through the shapes of poison."""
    event_type = TYPE_OF[topic]
    shapes = [
        lambda: b"\x00\xff\xfe not even text",
        lambda: b'{"id": "truncated json',
        lambda: b"[1, 2, 3]",
        lambda: None,  # a tombstone
        lambda: json.dumps({k: v for k, v in _envelope(event_type).items() if k != "data"}).encode(),
        lambda: json.dumps(_envelope(event_type, id="not-a-uuid")).encode(),
        lambda: json.dumps(_envelope(event_type, version=2)).encode(),  # an unknown major version
        lambda: json.dumps(_envelope(event_type, data={})).encode(),  # required fields missing
        lambda: json.dumps(_envelope(event_type, data={"post_id": 7, "version": "one"})).encode(),
        lambda: json.dumps(_envelope("post.exploded")).encode(),  # an unknown type
    ]
    return [shapes[i % len(shapes)]() for i in range(n)]


async def inject_poison(bootstrap_servers: str, names: TopicNames, per_topic: dict[str, int]) -> dict:
    """Produce the poison; returns the DLQ records expected: (logical topic, consumer) -> count."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    expected: dict[tuple[str, str], int] = {}
    try:
        for topic, n in per_topic.items():
            for value in poison_records(topic, n):
                await producer.send_and_wait(names.name(topic), value=value, key=uuid.uuid4().bytes,
                                             headers=[(MARK, b"poison")])
            for consumer in CONSUMERS[topic]:
                expected[(topic, consumer)] = expected.get((topic, consumer), 0) + n
    finally:
        await producer.stop()
    return expected


class Replayer:
    """Re-produces every record of ``topics`` once, as it appears, until :meth:`stop`.

    From the topics' beginning, or with ``from_latest`` only what is written after :meth:`start`
    (a burst of duplicates in the middle of a long run).
    """

    def __init__(self, bootstrap_servers: str, names: TopicNames, topics: list[str], *,
                 from_latest: bool = False) -> None:
        self._offset_reset = "latest" if from_latest else "earliest"
        self._bootstrap = bootstrap_servers
        self._topics = [names.name(t) for t in topics]
        self.replayed = 0
        self._task: asyncio.Task | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._running = True

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(*self._topics, bootstrap_servers=self._bootstrap, group_id=None,
                                          enable_auto_commit=False, auto_offset_reset=self._offset_reset,
                                          metadata_max_age_ms=1000)
        self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all", enable_idempotence=True)
        await self._consumer.start()
        await self._producer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self._running:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=200)
            for tp, records in batch.items():
                for record in records:
                    if any(key == MARK for key, _ in (record.headers or ())):
                        continue
                    await self._producer.send_and_wait(tp.topic, value=record.value, key=record.key,
                                                       headers=[(MARK, b"replay")])
                    self.replayed += 1

    async def catch_up(self, timeout: float = 30.0) -> None:
        """Until every record on the topics *now* has been read (and so replayed)."""
        assert self._consumer is not None
        partitions = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            behind = [tp for tp in partitions if await self._consumer.position(tp) < ends[tp]]
            if not behind:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the replayer did not catch up in {timeout:.0f}s")

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
