"""The consumer loop every service runs: at-least-once in, exactly-once effect.

Shaped like dramatiq's worker: ``run()`` loops ``while running`` and reconnects
with back-off; ``stop()`` only sets a flag; on the way out the loop finishes the
record in hand, commits what is durable and closes the consumer.

For every record:

1. decode the envelope (an undecodable or schema-breaking event is poison);
2. in ONE PostgreSQL transaction: insert ``(consumer, event_id)`` into
   ``inbox`` (primary key; a duplicate means "already applied" ⇒ skip) and
   apply the handler's effect — both commit, or neither does;
3. commit the Kafka offset only after that transaction has committed.

:func:`classify_failure` is the one place that decides what a failure means:
``EventError`` is never retried (straight to ``<topic>.dlq``); an outage of
PostgreSQL or Kafka is retried for as long as it lasts (sending good events to
the DLQ because the database blinked would lose them); any other error is
retried ``max_attempts`` times, then dead-lettered so the partition moves on.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from services.common.backoff import Backoff
from services.common.db import CONNECTION_ERRORS
from services.common.envelope import Event, utc_now_iso
from services.common.errors import EventError, InfrastructureError
from services.common.kafka import make_consumer
from services.common.logs import trace_id_var
from services.common.topics import TopicNames, dlq

log = logging.getLogger(__name__)

NON_RETRYABLE: tuple[type[BaseException], ...] = (EventError,)
OUTAGES: tuple[type[BaseException], ...] = (
    InfrastructureError, KafkaError, asyncpg.TooManyConnectionsError, *CONNECTION_ERRORS,
)

_INBOX_INSERT = """
INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING event_id
"""
_INBOX_INSERT_MANY = """
INSERT INTO inbox (consumer, event_id, event_type)
SELECT $1, id, type FROM unnest($2::uuid[], $3::text[]) AS batch(id, type)
ON CONFLICT DO NOTHING
RETURNING event_id
"""
_INBOX_FORGET = "DELETE FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])"


class EventHandler(Protocol):
    """What a service plugs into the loop."""

    async def prepare(self, events: list[Event]) -> None:
        """Optional batch work before any transaction (e.g. ML on all texts at once). No writes."""

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        """The effect, inside the inbox transaction. Raise EventError for events that can never apply."""


class Failure(enum.Enum):
    POISON = "poison"  # dead-letter now
    OUTAGE = "outage"  # retry until it passes
    ERROR = "error"  # retry a bounded number of times


def classify_failure(error: BaseException) -> Failure:
    if isinstance(error, NON_RETRYABLE):
        return Failure.POISON
    if isinstance(error, OUTAGES):
        return Failure.OUTAGE
    return Failure.ERROR


@dataclass
class ConsumerStats:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    # (logical topic, partition) ⇒ records on the broker not yet fetched by this member; measured
    # at most once a second while connected, emptied on disconnect (read by /metrics, see lag()).
    lag: dict[tuple[str, int], int] = field(default_factory=dict)


class _Item(NamedTuple):
    """One fetched record, in batch order, with what it decodes to (an event, or poison)."""

    tp: TopicPartition
    record: ConsumerRecord
    decoded: Event | EventError


@dataclass(frozen=True)
class _Together:
    """What the batch transaction did: records ``0..done-1`` are committed (it only takes clean batches, so
    event *i* is record *i*); ``failure`` is record ``done``'s error when one failed (its first attempt)."""

    done: int = 0
    failure: BaseException | None = None


class _Stopping(Exception):
    """Raised inside a retry wait when shutdown was asked for: leave the record uncommitted."""


class ConsumerLoop:
    def __init__(
        self,
        *,
        name: str,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        topic_names: TopicNames,
        topics: list[str],
        handler: EventHandler,
        producer: AIOKafkaProducer,
        max_attempts: int = 5,
        batch_size: int = 100,
    ) -> None:
        self.name = name
        self._pool = pool
        self._bootstrap = bootstrap_servers
        self._names = topic_names
        self._topics = topics
        self._handler = handler
        self._producer = producer
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._running = True
        self.stats = ConsumerStats()
        self.connected = asyncio.Event()
        self._lag_measured_at = 0.0

    def stop(self) -> None:
        self._running = False

    def lag(self) -> dict[tuple[str, int], int]:
        """Read-only: the last measured lag per (logical topic, partition) of this member's assignment."""
        return dict(self.stats.lag)

    async def run(self) -> None:
        backoff = Backoff(0.2, 5.0)
        while self._running:
            consumer = make_consumer(self._bootstrap, self._names.name(self.name), [self._names.name(t) for t in self._topics])
            try:
                await consumer.start()
                self.connected.set()
                backoff.reset()
                while self._running:
                    batch = await consumer.getmany(timeout_ms=300, max_records=self._batch_size)
                    await self._measure_lag(consumer)
                    if batch:
                        await self._process_batch(consumer, batch)
            except Exception as e:  # noqa: BLE001 - the loop must outlive any bug; uncommitted records come again
                delay = backoff.next()
                if isinstance(e, (KafkaError, OSError)):
                    log.warning("consumer %s lost Kafka (%s); reconnecting in %.1fs", self.name, e.__class__.__name__, delay)
                else:
                    log.exception("consumer %s failed unexpectedly; restarting in %.1fs", self.name, delay)
                await asyncio.sleep(delay)
            finally:
                self.connected.clear()
                self.stats.lag = {}
                await _close_quietly(consumer)

    async def _measure_lag(self, consumer) -> None:
        """Lag = end of the partition (last stable offset, as we read committed) − our position.

        Only partitions with a fetch response so far (a known end offset, hence a valid
        position) are measured; never raises, at most once a second.
        """
        now = time.monotonic()
        if now - self._lag_measured_at < 1.0:
            return
        self._lag_measured_at = now
        lag: dict[tuple[str, int], int] = {}
        try:
            for tp in consumer.assignment():
                end = consumer.last_stable_offset(tp)
                if end is None or end < 0:
                    end = consumer.highwater(tp)
                if end is None:
                    continue
                lag[(self._names.logical(tp.topic), tp.partition)] = max(0, end - await consumer.position(tp))
        except (IllegalStateError, AssertionError, KafkaError):
            return  # a rebalance moved the partitions meanwhile: measure again next time
        self.stats.lag = lag

    async def _process_batch(self, consumer, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Apply a fetched batch in record order, then commit the offsets of what is durable.

        A clean batch (every record decodes, more than one) first goes through :meth:`_apply_together`;
        whatever it did not finish goes one by one through :meth:`_process`. A stop asked for during a
        retry leaves that record and the ones after it uncommitted: they come again.
        """
        items = [_Item(tp, record, _decode(record)) for tp, records in batch.items() for record in records]
        events = [item.decoded for item in items if isinstance(item.decoded, Event)]
        if events:
            try:
                await self._handler.prepare(events)
            except Exception:  # noqa: BLE001 - apply() recomputes whatever prepare could not
                log.exception("consumer %s: batch preparation failed; applying one by one", self.name)
        together = _Together()
        if len(events) > 1 and len(events) == len(items):
            together = await self._apply_together(events)
        offsets: dict[TopicPartition, int] = {}
        try:
            for position, item in enumerate(items):
                if position >= together.done:
                    # The fallback, in one place: the event the batch transaction failed on starts the
                    # one-by-one path with that failure as its first attempt; the ones after it have none.
                    first_failure = together.failure if position == together.done else None
                    await self._process(item.record, item.decoded, first_failure)
                offsets[item.tp] = item.record.offset + 1
        except _Stopping:
            pass
        finally:
            if offsets:
                await self._commit(consumer, offsets)

    async def _apply_together(self, events: list[Event]) -> _Together:
        """The fast path: the events of a clean batch in ONE transaction (one inbox statement, one commit).

        Each event's effect runs in its own savepoint, in record order; every inbox row and effect commit
        together and the offsets after. When event *k* fails, its savepoint is rolled back, the inbox rows
        of events *k*.. are removed and events 0..*k*-1 commit: ``_Together(k, error)``. Any other failure
        commits nothing: ``_Together(0, None)``, and the whole batch goes one by one.
        """
        applied, failed_at, failure = 0, len(events), None
        try:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    ids = [uuid.UUID(e.id) for e in events]
                    pending = {row["event_id"] for row in await conn.fetch(
                        _INBOX_INSERT_MANY, self.name, ids, [e.type for e in events])}
                    for index, (event, event_id) in enumerate(zip(events, ids)):
                        if event_id not in pending:
                            continue  # applied before, or earlier in this batch
                        trace_id_var.set(event.trace_id)
                        try:
                            async with conn.transaction():
                                await self._handler.apply(conn, event)
                        except Exception as error:  # noqa: BLE001 - handed to the one-by-one path
                            failed_at, failure = index, error
                            break
                        pending.discard(event_id)
                        applied += 1
                    if failure is not None and pending:
                        await conn.execute(_INBOX_FORGET, self.name, list(pending))
        except Exception as error:  # noqa: BLE001 - nothing committed: the one-by-one path does it all
            log.info("consumer %s: batch of %d not applied together (%s); one by one",
                     self.name, len(events), error.__class__.__name__)
            return _Together()
        self.stats.applied += applied
        self.stats.duplicates += failed_at - applied
        return _Together(failed_at, failure)

    async def _process(self, record: ConsumerRecord, decoded: Event | EventError,
                       first_failure: BaseException | None = None) -> None:
        """Apply one record, retrying as its failures are classified.

        ``first_failure``: its first attempt already failed this way (in the batch transaction).
        """
        backoff = Backoff(0.1, 5.0)
        attempts = 0
        while True:
            attempts += 1
            try:
                if first_failure is not None:
                    error, first_failure = first_failure, None
                    raise error
                if isinstance(decoded, EventError):
                    raise decoded
                trace_id_var.set(decoded.trace_id)
                await self._apply_once(decoded)
                return
            except Exception as error:  # noqa: BLE001 - classified below, in one place
                kind = classify_failure(error)
                if kind is Failure.POISON or (kind is Failure.ERROR and attempts >= self._max_attempts):
                    await self._dead_letter(record, error, attempts)
                    return
                if kind is Failure.ERROR:
                    log.warning("consumer %s: attempt %d failed (%s)", self.name, attempts, error.__class__.__name__)
                self.stats.retries += 1
                await self._wait(backoff.next())

    async def _apply_once(self, event: Event) -> None:
        try:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    fresh = await conn.fetchval(_INBOX_INSERT, self.name, event.id, event.type)
                    if fresh is None:
                        self.stats.duplicates += 1
                        return
                    await self._handler.apply(conn, event)
        except CONNECTION_ERRORS as e:
            raise InfrastructureError("consumer lost PostgreSQL") from e
        self.stats.applied += 1

    async def _dead_letter(self, record: ConsumerRecord, error: BaseException, attempts: int) -> None:
        """Publish to ``<topic>.dlq``; retried while Kafka is down so the poison is never dropped."""
        body = json.dumps(
            {
                "error": f"{error.__class__.__name__}: {error}",
                "attempts": attempts,
                "consumer": self.name,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "failed_at": utc_now_iso(),
                "original_b64": base64.b64encode(record.value or b"").decode(),
            }
        ).encode()
        target = self._names.name(dlq(self._names.logical(record.topic)))
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                await self._producer.send_and_wait(target, value=body, key=record.key)
                break
            except KafkaError:
                await self._wait(backoff.next())
        self.stats.dead_lettered += 1
        log.error("consumer %s: event dead-lettered to %s after %d attempt(s): %s",
                  self.name, target, attempts, error.__class__.__name__)

    async def _commit(self, consumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except KafkaError as e:
            # The records will be redelivered; the inbox makes that harmless.
            log.warning("consumer %s: offset commit failed (%s)", self.name, e.__class__.__name__)

    async def _wait(self, seconds: float) -> None:
        if not self._running:
            raise _Stopping()
        await asyncio.sleep(seconds)
        if not self._running:
            raise _Stopping()


def _decode(record: ConsumerRecord) -> Event | EventError:
    """Never raises: whatever a record holds, it is an event or poison for the DLQ."""
    try:
        return Event.from_json(record.value)
    except EventError as e:
        return e
    except Exception as e:  # noqa: BLE001 - a hostile record must not stop the partition
        return EventError(f"undecodable event: {e.__class__.__name__}")


async def _close_quietly(consumer) -> None:
    try:
        await asyncio.shield(consumer.stop())
    except Exception:  # noqa: BLE001 - closing a broken consumer must not mask the original error
        log.debug("consumer close failed", exc_info=True)
