"""The stop-aware periodic loop, written once (sweepers, the re-pager, the policy reloader, retention, samplers).

A :class:`PeriodicWorker` is a ``Stoppable`` for ``services.common.resources.background_ctx``: ``run()``
calls :meth:`PeriodicWorker.tick` every ``interval_seconds`` until :meth:`PeriodicWorker.stop`; ``stop()``
only sets a flag, so a tick in progress finishes (as in dramatiq's worker) and the wait between ticks ends at
once. A tick that raises is logged and the loop goes on: these are safety nets and housekeeping, and a
safety net must not die of one failure (``/healthz`` watches the task, so only a bug that kills the loop
itself needs a restart).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class PeriodicWorker(ABC):
    #: Names the worker in logs.
    name: str = "periodic"

    def __init__(self, interval_seconds: float) -> None:
        self.interval_seconds = interval_seconds
        self._stopped = asyncio.Event()

    @abstractmethod
    async def tick(self) -> None:
        """One round of the work."""

    def stop(self) -> None:
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    async def run(self) -> None:
        while not self.stopped:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged; the next tick tries again
                log.warning("%s: tick failed", self.name, exc_info=True)
            await self.pause(self.interval_seconds)

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` or until stopped, whichever comes first; True when stopped."""
        try:
            await asyncio.wait_for(self._stopped.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        return self.stopped
