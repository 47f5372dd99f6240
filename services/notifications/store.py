"""Notifications' domain operations: store each notification once, with its deliveries (the consumer,
handlers.py, in the inbox transaction); then what people do with them: read them, mark them read, choose
how to be reached (preferences), and who is paged for crises (the rota). Records out; views.py shapes JSON.

Stream positions. ``notifications.seq`` is the SSE event id. Sequence values are
taken at INSERT, not at COMMIT, so two concurrent inserts could become visible
out of order and a client resuming from the higher one would never see the
lower. Inserts therefore take a transaction-scoped advisory lock (as
eventsourcing locks its table): positions commit in order, and "everything
after Last-Event-ID" is exactly what a reconnecting client missed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import asyncpg

from services.common.db import connection, transaction
from services.common.errors import Conflict, NotFound
from services.common.tokens import Principal
from services.notifications import queries as q
from services.notifications.channels import DeliverySettings, plan_deliveries
from services.notifications.rules import Planned


async def store_notification(conn: asyncpg.Connection, item: Planned, source_event_id: uuid.UUID,
                             settings: DeliverySettings) -> int | None:
    """Store one notification and plan its deliveries; returns its stream position (None if a repeat).

    The announcement (NOTIFY) reaches the live streams when the caller's transaction commits."""
    await conn.execute(q.LOCK_STREAM)
    row = await conn.fetchrow(
        q.INSERT_NOTIFICATION, uuid.uuid4(),
        uuid.UUID(item.recipient.user_id) if item.recipient.user_id else None,
        item.recipient.role, item.type, item.category, item.tier, json.dumps(item.data), source_event_id,
    )
    if row is None:
        return None
    await plan_deliveries(conn, row["id"], item, settings)
    await conn.execute(q.NOTIFY, q.STREAM_CHANNEL, json.dumps({"seq": row["seq"], "user": item.recipient.user_id,
                                                               "role": item.recipient.role}))
    return row["seq"]


@dataclass(frozen=True)
class PreferenceChoice:
    """How someone wants to be reached, already checked (views.py): an address, channels per category,
    quiet hours (whole UTC hours, both or neither) and whether e-mail waits for a daily digest."""

    email: str | None
    channels: dict[str, list[str]]
    quiet_start: int | None
    quiet_end: int | None
    digest: bool


@dataclass(frozen=True)
class Preferences:
    """Someone's stored choices (``row`` is None until they first save) and whether they are on the rota."""

    row: asyncpg.Record | None
    on_rota: bool


class NotificationStore:
    BACKLOG_PAGE = 500

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_for(self, principal: Principal, *, before: int | None = None,
                       limit: int = 50) -> tuple[list[asyncpg.Record], int | None]:
        """The caller's newest notifications (each with ``read``) before position ``before``, and the
        position to continue from (None: there are no more)."""
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.LIST_FOR, uuid.UUID(principal.user_id), principal.role, before, limit + 1)
        return rows[:limit], (rows[limit - 1]["seq"] if len(rows) > limit else None)

    async def unread_count(self, principal: Principal) -> int:
        async with connection(self._pool) as conn:
            return await conn.fetchval(q.UNREAD_COUNT, uuid.UUID(principal.user_id), principal.role)

    async def mark_read(self, principal: Principal, notification_id: str) -> None:
        async with transaction(self._pool) as conn:
            user = uuid.UUID(principal.user_id)
            if await conn.fetchval(q.VISIBLE_ONE, user, principal.role, uuid.UUID(notification_id)) is None:
                raise NotFound("no such notification")
            await conn.execute(q.MARK_READ, user, uuid.UUID(notification_id))

    async def mark_all_read(self, principal: Principal) -> None:
        async with transaction(self._pool) as conn:
            await conn.execute(q.MARK_ALL_READ, uuid.UUID(principal.user_id), principal.role)

    async def backlog(self, principal: Principal, after: int) -> list[asyncpg.Record]:
        """The caller's notifications after stream position ``after``, oldest first, at most BACKLOG_PAGE."""
        async with connection(self._pool) as conn:
            return await conn.fetch(q.STREAM_BACKLOG, uuid.UUID(principal.user_id), principal.role, after,
                                    self.BACKLOG_PAGE)

    async def latest_seq(self) -> int:
        async with connection(self._pool) as conn:
            return await conn.fetchval(q.LATEST_SEQ)

    async def by_seq(self, seq: int) -> asyncpg.Record | None:
        async with connection(self._pool) as conn:
            return await conn.fetchrow(q.BY_SEQ, seq)

    # --- preferences and rota ----------------------------------------------------------

    async def preferences(self, principal: Principal) -> Preferences:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow(q.GET_PREFERENCES, uuid.UUID(principal.user_id))
            rota = await conn.fetchrow(q.ROTA_ENTRY, uuid.UUID(principal.user_id))
        return Preferences(row, bool(rota and rota["on_rota"]))

    async def set_preferences(self, principal: Principal, choice: PreferenceChoice) -> Preferences:
        """Save someone's choices; crisis staff on the rota cannot switch their crisis e-mail off (409)."""
        async with transaction(self._pool) as conn:
            user = uuid.UUID(principal.user_id)
            rota = await conn.fetchrow(q.ROTA_ENTRY, user)
            if rota is not None and rota["on_rota"] and (
                    not choice.email or "email" not in choice.channels.get("crisis", ["email"])):
                raise Conflict("crisis paging stays on while you are on the rota", field="channels")
            await conn.execute(q.UPSERT_PREFERENCES, user, principal.role, choice.email, json.dumps(choice.channels),
                               choice.quiet_start, choice.quiet_end, choice.digest)
            row = await conn.fetchrow(q.GET_PREFERENCES, user)
        return Preferences(row, bool(rota and rota["on_rota"]))

    async def set_rota(self, user_id: str, tier: int, on_rota: bool) -> asyncpg.Record:
        async with transaction(self._pool) as conn:
            await conn.execute(q.UPSERT_ROTA, uuid.UUID(user_id), tier, on_rota)
            return await conn.fetchrow(q.ROTA_ENTRY, uuid.UUID(user_id))

    async def rota(self) -> list[asyncpg.Record]:
        async with connection(self._pool) as conn:
            return await conn.fetch(q.LIST_ROTA)
