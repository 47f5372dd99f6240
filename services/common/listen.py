"""A LISTEN connection that reconnects by itself.

PostgreSQL notifications wake relays and push live events; when the
connection drops (a database restart) this reconnects with back-off, and the
caller's polling covers the gap, so a lost notification only delays work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from services.common.backoff import Backoff

log = logging.getLogger(__name__)


async def listen_forever(dsn: str, channel: str, on_payload: Callable[[str], None], *,
                         on_connect: Callable[[], None] | None = None) -> None:
    """Call ``on_payload(payload)`` for every NOTIFY on ``channel``; runs until cancelled."""
    backoff = Backoff(0.5, 10.0)
    while True:
        conn = None
        try:
            conn = await asyncpg.connect(dsn)
            await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: on_payload(payload))
            if on_connect is not None:
                on_connect()
            backoff.reset()
            while not conn.is_closed():
                await asyncio.sleep(2)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - keep listening; callers poll as a fallback
            delay = backoff.next()
            log.warning("LISTEN %s lost (%s); reconnecting in %.1fs", channel, e.__class__.__name__, delay)
            await asyncio.sleep(delay)
        finally:
            if conn is not None and not conn.is_closed():
                await asyncio.shield(conn.close(timeout=2))
