"""The safety net behind the outbox: posts left pending too long are emitted again.

Not the path: a post reaches moderation through the outbox relay at once. This catches what a lost
event or a stopped moderation left undecided; moderation's consumers are idempotent per version,
so an event emitted twice is decided once (``ForumStore.sweep_pending``).
"""

from __future__ import annotations

import logging

from services.common.periodic import PeriodicWorker
from services.forum.store import ForumStore

log = logging.getLogger(__name__)


class PendingSweeper(PeriodicWorker):
    """Every few seconds (half of ``older_than_seconds``, between 0.5 s and 30 s), re-emit the posts whose
    decision has not arrived ``older_than_seconds`` after they were last emitted."""

    name = "pending-sweeper"

    def __init__(self, store: ForumStore, older_than_seconds: float) -> None:
        super().__init__(max(0.5, min(older_than_seconds / 2, 30.0)))
        self._store = store
        self._older_than = older_than_seconds

    async def tick(self) -> None:
        if swept := await self._store.sweep_pending(self._older_than):
            log.warning("re-emitted %d post(s) still pending after %.0fs", swept, self._older_than)
