"""Read what is on a Kafka topic, for assertions (a group-less consumer from the beginning)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer


async def read_topic(bootstrap_servers: str, topic: str, *, expected: int, timeout: float = 20.0,
                     linger: float = 0.0) -> list[bytes]:
    """Values on ``topic``: stops at ``expected`` values or ``timeout``, then reads ``linger``
    seconds more so that an unexpected extra (a duplicate) would show up too."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    values: list[bytes] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(values) < expected and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                values += [record.value for record in records]
        if linger:
            for records in (await consumer.getmany(timeout_ms=int(linger * 1000))).values():
                values += [record.value for record in records]
    finally:
        await consumer.stop()
    return values
