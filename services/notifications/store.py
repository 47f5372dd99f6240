"""Notifications' storage: consumer writes (in the inbox transaction) and API reads."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from services.common.db import connection

from services.common.envelope import Event
from services.common.tokens import Principal
from services.notifications import queries as q
from services.notifications.rules import CrisisResources, plan


class NotificationHandler:
    """Consumer handler: every event becomes its planned notifications, stored once."""

    def __init__(self, resources: CrisisResources) -> None:
        self._resources = resources

    async def prepare(self, events: list[Event]) -> None:
        return None

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        for item in plan(event, self._resources):
            await conn.execute(
                q.INSERT_NOTIFICATION, uuid.uuid4(),
                uuid.UUID(item.recipient.user_id) if item.recipient.user_id else None,
                item.recipient.role, item.type, json.dumps(item.data), uuid.UUID(event.id),
            )


class NotificationStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_for(self, principal: Principal, limit: int = 100) -> list[dict[str, Any]]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.LIST_FOR, uuid.UUID(principal.user_id), principal.role, limit)
        return [{"id": str(r["id"]), "type": r["type"], "data": json.loads(r["data"]),
                 "created_at": r["created_at"].isoformat(), "read": r["read_at"] is not None} for r in rows]
