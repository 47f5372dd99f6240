"""Exponential back-off, written once: every reconnect and retry loop in Haven waits this way.

The first wait is short (a blip costs little), each failure doubles it, and it never grows past
``cap`` (an outage of minutes is noticed within ``cap`` seconds of its end). A success calls
:meth:`Backoff.reset`, so the next failure starts short again.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    first: float = 0.2
    cap: float = 5.0
    _next: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError("back-off needs 0 < first <= cap")
        self._next = self.first

    def next(self) -> float:
        """The seconds to wait after this failure; the one after waits twice as long, up to ``cap``."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first
