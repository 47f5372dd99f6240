"""Retention: rows past their age are deleted in small batches by a background job.

One :class:`RetentionJob` per service, given the service's purges: ``(table, SQL, age)``.
Each SQL is a ``DELETE`` of at most ``$2`` rows older than ``$1`` (an ``interval``), written
against the service's own schema (the pool's ``search_path``), backed by an index on the age
column and deleting by ``ctid`` (a TID scan: the rows just picked, not a join over the table), so
one batch is a short transaction that locks only the rows it deletes; the job repeats a purge while
batches come back full, then sleeps ``interval_seconds`` (a :class:`~services.common.periodic.PeriodicWorker`).
Several replicas may run it at once: batches pick rows with ``FOR UPDATE SKIP LOCKED``.

What is deleted is counted in ``haven_retention_deleted_rows_total{table=...}`` and each
run logs one summary line of counts (never row contents).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from services.common.periodic import PeriodicWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purge:
    table: str
    sql: str
    older_than: timedelta


class RetentionJob(PeriodicWorker):
    """A ``Stoppable`` (``services.common.resources.background_ctx``) that runs the purges periodically."""

    name = "retention"

    def __init__(self, pool: asyncpg.Pool, purges: Iterable[Purge | tuple[str, str, timedelta]], *,
                 interval_seconds: float = 3600.0, batch_size: int = 1000, registry: CollectorRegistry | None = None,
                 pause_seconds: float = 0.05) -> None:
        super().__init__(interval_seconds)
        self._pool = pool
        self.purges = [p if isinstance(p, Purge) else Purge(*p) for p in purges]
        self._batch = batch_size
        self._pause = pause_seconds  # between two full batches: leaves room for the service's own work
        self.deleted = Counter("haven_retention_deleted_rows", "Rows deleted by the retention job, by table",
                               ["table"], registry=registry)
        self.failures = Counter("haven_retention_failures", "Retention batches that failed, by table",
                                ["table"], registry=registry)
        for purge in self.purges:
            self.deleted.labels(purge.table)
            self.failures.labels(purge.table)

    async def tick(self) -> None:
        await self.run_once()

    async def run_once(self) -> dict[str, int]:
        """Every purge until nothing is left past its age (or the job is stopped); returns rows deleted per table."""
        started = time.monotonic()
        counts: dict[str, int] = {}
        for purge in self.purges:
            counts[purge.table] = await self._purge(purge)
        if any(counts.values()):
            log.info("retention deleted %s in %.1fs", ", ".join(f"{n} {t}" for t, n in counts.items()),
                     time.monotonic() - started)
        else:
            log.debug("retention: nothing past its age")
        return counts

    async def _purge(self, purge: Purge) -> int:
        total = 0
        while not self.stopped:
            try:
                async with self._pool.acquire() as conn:
                    status = await conn.execute(purge.sql, purge.older_than, self._batch)
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                self.failures.labels(purge.table).inc()
                log.warning("retention of %s failed (%s); next run in %.0fs", purge.table, e.__class__.__name__,
                            self.interval_seconds)
                break
            deleted = int(status.rsplit(" ", 1)[-1])
            total += deleted
            self.deleted.labels(purge.table).inc(deleted)
            if deleted < self._batch:
                break
            if total % (self._batch * 100) == 0:
                log.info("retention of %s: %d rows so far", purge.table, total)
            await asyncio.sleep(self._pause)
        return total


def retention_ctx(common, *purges: Purge):
    """The service's retention task: the shared inbox's (``INBOX_RETENTION_DAYS``) and ended sessions' purges, and ``purges``.

    ``common`` is the service's ``CommonConfig`` (``RETENTION_INTERVAL_SECONDS``, ``RETENTION_BATCH_SIZE``).
    """
    from services.common.http.appkeys import METRICS
    from services.common.resources import POOL, background_ctx

    def make(app) -> RetentionJob:
        return RetentionJob(app[POOL], [inbox_purge(common.inbox_retention_days), REVOKED_SESSIONS_PURGE, *purges],
                            interval_seconds=common.retention_interval_seconds, batch_size=common.retention_batch_size,
                            registry=app[METRICS].registry)

    return background_ctx("retention", make)


def inbox_purge(days: int) -> Purge:
    """The shared inbox's purge: every service has one (``services/common/sql/001_outbox_inbox.sql``)."""
    return Purge("inbox", INBOX_RETENTION, timedelta(days=days))


# Inbox rows older than $1 (see services/common/config.inbox_retention_minimum_days for why the age is long).
INBOX_RETENTION = """
DELETE FROM inbox WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM inbox WHERE applied_at < now() - $1::interval
    ORDER BY applied_at LIMIT $2 FOR UPDATE SKIP LOCKED))
"""

# Ended sessions (services/common/sql/003_sessions.sql) are read for Sessions.WINDOW_SECONDS (about an hour, the
# longest access-token life): a day later they cover no token that could still verify.
REVOKED_SESSIONS_RETENTION = """
DELETE FROM revoked_sessions WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM revoked_sessions WHERE revoked_at < now() - $1::interval
    ORDER BY revoked_at LIMIT $2 FOR UPDATE SKIP LOCKED))
"""
REVOKED_SESSIONS_PURGE = Purge("revoked_sessions", REVOKED_SESSIONS_RETENTION, timedelta(days=1))
