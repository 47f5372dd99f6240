"""Live push over Server-Sent Events, with resume and several instances.

Every stored notification is announced with ``NOTIFY notifications_stream``
(on commit, in stream order: see store.py). Each instance keeps ONE listening
connection and fans the announcement out to its connected clients whose user
or role it concerns, so a member connected to any instance gets their events.

A client that reconnects with ``Last-Event-ID`` first gets everything after
that position from the table, then the live feed; it subscribes before it
reads the backlog and skips positions it already sent, so there is no gap and
no repeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp_sse import sse_response

from services.common.http.appkeys import SESSIONS
from services.common.listen import listen_forever
from services.common.tokens import Principal
from services.notifications.queries import STREAM_CHANNEL
from services.notifications.store import NotificationStore

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000
RESYNC = 0  # not a stream position: "read the backlog again"


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False

    def wants(self, user: str | None, role: str | None) -> bool:
        return user == self.principal.user_id or (role is not None and role == self.principal.role)


class Broadcaster:
    """One LISTEN connection per instance, fanned out to the connected streams."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.closing = False

    async def start(self) -> None:
        self._task = asyncio.create_task(listen_forever(self._dsn, STREAM_CHANNEL, self._announce,
                                                        on_connect=self._connected))

    def _connected(self) -> None:
        """After a reconnect, announcements sent meanwhile are lost: streams re-read their backlog."""
        if self.ready.is_set():
            self._broadcast_all(RESYNC)
        self.ready.set()

    def _broadcast_all(self, value: int) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(value)
            except asyncio.QueueFull:
                subscriber.overflowed = True

    def shutdown(self) -> None:
        """Ask every open stream to end (on app shutdown, so shutdown does not wait on them)."""
        self.closing = True
        self._broadcast_all(-1)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def subscribe(self, principal: Principal) -> Subscriber:
        subscriber = Subscriber(principal)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def _announce(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            seq, user, role = int(note["seq"]), note.get("user"), note.get("role")
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed stream announcement")
            return
        for subscriber in list(self._subscribers):
            if subscriber.wants(user, role):
                try:
                    subscriber.queue.put_nowait(seq)
                except asyncio.QueueFull:
                    subscriber.overflowed = True  # the stream closes; the client resumes from its last id


#: A stored notification as JSON (views.notification_json): the stream shows what the list shows.
Shape = Callable[[asyncpg.Record], dict[str, Any]]


async def serve_stream(request: web.Request, principal: Principal, broadcaster: Broadcaster,
                       store: NotificationStore, heartbeat_seconds: float, shape: Shape) -> web.StreamResponse:
    """The caller's live stream: what they missed since ``Last-Event-ID``, then each new notification as
    ``shape`` (views.notification_json) makes it, until the client leaves or the token stops being valid."""
    last = _last_event_id(request)
    subscriber = broadcaster.subscribe(principal)
    try:
        async with sse_response(request, ping_interval=heartbeat_seconds,
                                headers={"X-Accel-Buffering": "no"}) as response:
            try:
                if last is None:
                    last = await store.latest_seq()
                last = await _send_backlog(response, store, principal, last, shape)
                while (response.is_connected() and not subscriber.overflowed and not broadcaster.closing
                       and _still_valid(request, principal)):
                    try:
                        wait = min(heartbeat_seconds, max(0.0, principal.expires_at - time.time())) \
                            if principal.expires_at else heartbeat_seconds
                        seq = await asyncio.wait_for(subscriber.queue.get(), wait)
                    except asyncio.TimeoutError:
                        continue  # re-check the connection; the library sends the heartbeat itself
                    if seq == RESYNC:
                        last = await _send_backlog(response, store, principal, last, shape)
                    elif seq > last:
                        row = await store.by_seq(seq)
                        if row is not None:
                            await response.send(json.dumps(shape(row)), id=str(seq), event=row["type"])
                        last = seq
            except Exception:  # noqa: BLE001 - end the stream; the client resumes from its Last-Event-ID
                log.warning("stream ended by an error; the client will resume", exc_info=True)
        return response
    finally:
        broadcaster.unsubscribe(subscriber)


def _still_valid(request: web.Request, principal: Principal) -> bool:
    """The stream lives as long as the token that opened it: it ends when the token expires, its session
    is revoked or the account's role changes (services/common/sessions.py). A suspension does not end
    it: a suspended member still reads what is sent to them (support, outreach)."""
    if principal.expires_at and time.time() >= principal.expires_at:
        return False
    return request.app[SESSIONS].refuses(principal) is None


async def _send_backlog(response, store: NotificationStore, principal: Principal, last: int, shape: Shape) -> int:
    """Everything after ``last`` for this caller, page by page; returns the new last position."""
    while True:
        page = await store.backlog(principal, last)
        for row in page:
            await response.send(json.dumps(shape(row)), id=str(row["seq"]), event=row["type"])
            last = row["seq"]
        if len(page) < store.BACKLOG_PAGE:
            return last


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID", "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
