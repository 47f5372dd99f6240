"""Transactional outbox: write the change and its event together, publish later.

``enqueue`` inserts the event into the service's ``outbox`` table inside the
caller's transaction and sends ``NOTIFY outbox`` (delivered only on commit).
:class:`OutboxRelay` wakes on that notification, or on a polling timer as a
fallback when a notification is missed, and publishes pending rows.

The commit-order gap. ``outbox.id`` comes from a sequence, and sequence values
are taken at INSERT time, not at COMMIT: under concurrent writers row 7 can
become visible after row 8 has been published. A relay that remembered "last
id sent" would skip row 7 forever. This relay never uses a high-water mark: it
selects *every* row with ``sent_at IS NULL``, so a late commit is simply picked
up by the next batch. (eventsourcing solves the same gap for its readers by
serialising inserts with a table lock; we do not need gapless ids, only that no
unsent row is ever forgotten.)

Order per key. Rows of one key (one post) are written by transactions that
lock that post's row, so their ids follow their commit order. A batch is
published in id order and awaited as a whole before the next batch, and a
transaction-scoped advisory lock lets only one relay publish at a time, so two
relays cannot interleave rows of one key. ``FOR UPDATE SKIP LOCKED`` is kept as
a second guard: a row locked by one relay is never sent by another.

Kafka down: the send fails or times out, the transaction rolls back, rows stay
unsent, and the relay retries with back-off. A crash between Kafka's ack and
the commit re-sends a row: delivery is at-least-once and every consumer is
idempotent on the event id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer

from services.common.backoff import Backoff
from services.common.db import CONNECTION_ERRORS
from services.common.envelope import Event
from services.common.errors import InfrastructureError
from services.common.listen import listen_forever
from services.common.topics import TopicNames

log = logging.getLogger(__name__)


def notify_channel(schema: str) -> str:
    """One channel per schema, so forum's commits do not wake moderation's relay."""
    return f"outbox_{schema}"


# The row and its wake-up in one statement: one round trip per event instead of two. The notification is
# sent on commit (and only once per transaction for the same payload, however many rows).
_INSERT = """
WITH row AS (INSERT INTO outbox (topic, key, event_id, payload) VALUES ($1, $2, $3, $4) RETURNING 1)
SELECT pg_notify('outbox_' || current_schema(), '') FROM row
"""
_TRY_LEAD = "SELECT pg_try_advisory_xact_lock(hashtext('haven-outbox-relay'), hashtext(current_schema()))"
_CLAIM = """
SELECT id, topic, key, payload FROM outbox
WHERE sent_at IS NULL
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"
PURGE_EVERY_SECONDS = 600.0
_PURGE = "DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => $1)"


async def enqueue(conn: asyncpg.Connection, topic: str, event: Event) -> None:
    """Add ``event`` for ``topic`` (logical name) to the outbox, in the caller's transaction."""
    await conn.execute(_INSERT, topic, event.key, event.id, event.to_json())


@dataclass
class RelayStats:
    published: int = 0
    failures: int = 0


class OutboxRelay:
    """Publishes outbox rows to Kafka; run as a background task, stopped with ``stop()``."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        dsn: str,
        schema: str,
        producer: AIOKafkaProducer,
        topics: TopicNames,
        poll_seconds: float = 1.0,
        batch_size: int = 1000,  # bench/README.md stage 4: 1000 rows per batch ~1.7x the events/s of 200
        retain_sent_seconds: float = 86400.0,
        send_timeout: float = 20.0,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._producer = producer
        self._topics = topics
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._retain_sent_seconds = retain_sent_seconds
        self._send_timeout = send_timeout
        self._next_purge = 0.0
        self._wakeup = asyncio.Event()
        self._running = True
        self.stats = RelayStats()

    def stop(self) -> None:
        """Ask the loop to finish its current batch and return."""
        self._running = False
        self._wakeup.set()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        listener = asyncio.create_task(
            listen_forever(self._dsn, notify_channel(self._schema), lambda _payload: self._wakeup.set()),
            name=f"outbox-listen-{self._schema}",
        )
        backoff = Backoff(0.2, 5.0)
        try:
            while self._running:
                self._wakeup.clear()  # a NOTIFY during this batch sets it again: not lost
                try:
                    sent = await self.publish_batch()
                    backoff.reset()
                except InfrastructureError:
                    self.stats.failures += 1
                    delay = backoff.next()
                    log.warning("outbox relay cannot publish; retrying in %.1fs", delay)
                    await self._sleep(delay)
                    continue
                if sent == self._batch_size:
                    continue  # more may be waiting: no sleep
                if sent == 0 and time.monotonic() >= self._next_purge:
                    self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                    await self._purge_old()
                await self._sleep(self._poll_seconds)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def publish_batch(self) -> int:
        """Publish one batch of pending rows; returns how many were sent."""
        try:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    if not await conn.fetchval(_TRY_LEAD):
                        return 0  # another relay is publishing this schema's rows now
                    rows = await conn.fetch(_CLAIM, self._batch_size)
                    if not rows:
                        return 0
                    await self._send_all(rows)
                    await conn.execute(_MARK_SENT, [row["id"] for row in rows])
        except CONNECTION_ERRORS as e:
            raise InfrastructureError("outbox relay lost PostgreSQL") from e
        self.stats.published += len(rows)
        return len(rows)

    async def _send_all(self, rows: list[asyncpg.Record]) -> None:
        try:
            futures = [
                await self._producer.send(
                    self._topics.name(row["topic"]), value=bytes(row["payload"]), key=row["key"].encode()
                )
                for row in rows
            ]
            await asyncio.wait_for(asyncio.gather(*futures), self._send_timeout)
        except Exception as e:  # any Kafka failure: leave the rows for the next try
            raise InfrastructureError(f"Kafka publish failed: {e.__class__.__name__}") from e

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _purge_old(self) -> None:
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(_PURGE, self._retain_sent_seconds)
        except CONNECTION_ERRORS:
            pass
