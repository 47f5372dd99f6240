"""Wait on a condition with a deadline: the only synchronisation tests use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.1,
                     what: str = "condition") -> T:
    """Await ``probe()`` until it returns a truthy value; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")


async def holds_for(probe: Callable[[], Awaitable[bool]], *, seconds: float, interval: float = 0.2,
                    what: str = "invariant") -> None:
    """Assert that ``probe()`` stays true for ``seconds`` (sampled every ``interval``).

    The opposite of :func:`eventually`: for "nothing more happens", which can only
    be shown by watching for a while. The pause is the sampling rate, not a wait
    for something to happen.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert await probe(), f"{what} stopped holding"
        await asyncio.sleep(interval)
