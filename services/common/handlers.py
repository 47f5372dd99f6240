"""How a service reacts to what it consumes: one class per consumed topic, one method per event type.

A service's ``handlers.py`` defines a :class:`TopicHandler` for each topic it consumes, with a method
per event type named after it (``decision.made`` ⇒ ``on_decision_made``). :class:`Dispatch` is the
``EventHandler`` the consumer loop (``services/common/consumer.py``) runs: it sends each event to the
method named for its type, inside the inbox transaction, and gives each handler its own events in
``prepare``. An event type no handler names is skipped: a newer producer may add types before every
consumer knows them, and the envelope's validation has already refused what is malformed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from services.common.envelope import Event

log = logging.getLogger(__name__)

Apply = Callable[[asyncpg.Connection, Event], Awaitable[None]]


class TopicHandler:
    """Base of a handler for one topic; subclasses add ``on_<event type>`` methods."""

    async def prepare(self, events: list[Event]) -> None:
        """Optional batch work before any transaction (e.g. ML on all texts at once). No writes."""


def method_name(event_type: str) -> str:
    return "on_" + event_type.replace(".", "_")


class Dispatch:
    """The consumer loop's ``EventHandler`` over one or more :class:`TopicHandler`."""

    def __init__(self, *handlers: TopicHandler) -> None:
        self._handlers = handlers

    def _target(self, event_type: str) -> tuple[TopicHandler, Apply] | None:
        name = method_name(event_type)
        for handler in self._handlers:
            if (method := getattr(handler, name, None)) is not None:
                return handler, method
        return None

    async def prepare(self, events: list[Event]) -> None:
        for handler in self._handlers:
            mine = [e for e in events if (target := self._target(e.type)) is not None and target[0] is handler]
            if mine:
                await handler.prepare(mine)

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        target = self._target(event.type)
        if target is None:
            log.debug("no handler for %s; skipped", event.type)
            return
        await target[1](conn, event)
