"""A minimal Server-Sent Events reader for tests (the wire format, parsed by hand on purpose:
the test checks what a browser's EventSource would see)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str | None
    data: str


async def read_events(response: aiohttp.ClientResponse, count: int, timeout: float) -> list[SseEvent]:
    """Read ``count`` events (heartbeat comments skipped) or fail after ``timeout`` seconds."""
    events: list[SseEvent] = []
    fields: dict[str, str] = {}

    async def read() -> None:
        nonlocal fields
        while len(events) < count:
            raw = await response.content.readline()
            if not raw:
                raise AssertionError(f"stream ended after {len(events)} of {count} events")
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if "data" in fields:
                    events.append(SseEvent(fields.get("id"), fields.get("event"), fields["data"]))
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value

    try:
        await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError as e:
        raise AssertionError(f"only {len(events)} of {count} events within {timeout}s: {events}") from e
    return events
