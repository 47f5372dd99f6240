"""Reads behind moderation's HTTP API (the full queue workflow comes later)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.common.db import connection

from services.common.errors import ValidationError
from services.moderation import queries as q

QUEUE_STATUSES = ("open", "resolved")
ESCALATION_STATUSES = ("open", "acknowledged", "resolved")


class ModerationStore:
    def __init__(self, pool: asyncpg.Pool, repage_seconds: int) -> None:
        self._pool = pool
        self._repage_seconds = repage_seconds

    async def queue(self, status: str = "open", limit: int = 100) -> list[dict[str, Any]]:
        if status not in QUEUE_STATUSES:
            raise ValidationError(f"status must be one of {', '.join(QUEUE_STATUSES)}", field="status")
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.LIST_QUEUE, status, limit)
        return [
            {"id": str(r["id"]), "post_id": str(r["post_id"]), "community": r["community"],
             "author_id": str(r["author_id"]), "status": r["status"], "priority": r["priority"],
             "reasons": json.loads(r["reasons"]), "claimed_by": None, "created_at": r["created_at"].isoformat(),
             "post": {"version": r["version"], "title": r["title"], "body": r["body"]}}
            for r in rows
        ]

    async def escalations(self, status: str = "open", limit: int = 200) -> list[dict[str, Any]]:
        if status not in ESCALATION_STATUSES:
            raise ValidationError(f"status must be one of {', '.join(ESCALATION_STATUSES)}", field="status")
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.LIST_ESCALATIONS, status, float(self._repage_seconds), limit)
        return [
            {"id": str(r["id"]), "post_id": str(r["post_id"]), "post_version": r["post_version"],
             "author_id": str(r["author_id"]), "community": r["community"], "level": r["level"],
             "status": r["status"], "evidence": json.loads(r["evidence"]), "opened_at": r["opened_at"].isoformat(),
             "overdue": r["overdue"], "outcome": r["outcome"]}
            for r in rows
        ]
