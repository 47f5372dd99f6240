"""Database-backed gauges for ``/metrics``: a query sampled in the background, read by a collector.

Prometheus collectors are synchronous: ``collect()`` runs inside the
``/metrics`` request and cannot await an asyncpg query. So a
:class:`QuerySampler` runs one cheap, read-only query every few seconds as a
background task (a ``Stoppable``, started and stopped with the app like the
relay and the consumers) and keeps the last rows; the collector only reads
them. Why a periodic task rather than querying on scrape: the cost is bounded
(one indexed query per interval per instance) however often, or by however
many Prometheus servers, ``/metrics`` is scraped, and ``collect()`` never
blocks the event loop. A sample older than ``3 × interval`` (the database is
unreachable) is not exported at all, so a stale number is never shown as
current; alert rules see the series disappear instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.periodic import PeriodicWorker

log = logging.getLogger(__name__)


class QuerySampler(PeriodicWorker):
    """Run ``query`` every ``interval`` seconds on ``pool``; :meth:`rows` is the last result, if fresh."""

    def __init__(self, pool: asyncpg.Pool, query: str, *, interval: float = 5.0, timeout: float = 2.0,
                 name: str = "sampler") -> None:
        super().__init__(interval)
        self._pool = pool
        self._query = query
        self._timeout = timeout
        self.name = name
        self._rows: Sequence[asyncpg.Record] = ()
        self._sampled_at: float | None = None
        self.failures = 0

    async def tick(self) -> None:
        await self.sample()

    async def sample(self) -> bool:
        """Run the query once; False (and the old rows kept, ageing) when it fails."""
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                rows = await conn.fetch(self._query, timeout=self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a metric must never take the service down
            self.failures += 1
            log.debug("metrics query %s failed: %s", self.name, e.__class__.__name__)
            return False
        self._rows = rows
        self._sampled_at = time.monotonic()
        return True

    def rows(self) -> Sequence[Any] | None:
        """The last rows if sampled within ``3 × interval``, else None (export nothing)."""
        if self._sampled_at is None or time.monotonic() - self._sampled_at > 3 * self.interval_seconds:
            return None
        return self._rows
