"""In-memory sliding-window rate limiter.

Keys may be client IP addresses: they live only here, in memory, for the
length of a window, and never reach a table or a log (DESIGN.md, privacy).
One limiter per app instance (no process globals); a multi-instance
deployment limits per instance, which is the documented trade-off.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from services.common.errors import RateLimited


@dataclass
class RateLimiter:
    limit: int
    window_seconds: float
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, key: str, what: str) -> None:
        """Count a hit for ``key``; raise :class:`RateLimited` with Retry-After when over the limit."""
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_seconds:
            hits.popleft()
        if len(hits) >= self.limit:
            retry = max(1, math.ceil(hits[0] + self.window_seconds - now))
            raise RateLimited(f"too many {what}; try again in {retry}s", retry_after=retry)
        hits.append(now)
        if len(self._hits) > 100_000:
            self._evict(now)

    def _evict(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_seconds]:
            del self._hits[key]
