"""Crisis escalations: open → acknowledged → resolved, with notes, outreach and re-paging.

Every transition is one transaction: the row, an audit entry and the event on
``moderation.escalations`` (through the outbox) commit together. Re-page timers
are ``next_page_at`` columns in PostgreSQL, so they survive restarts and are
shared safely by several moderation instances (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from services.common import outbox
from services.common.db import connection, transaction
from services.common.envelope import ESCALATION_OUTCOMES, Event
from services.common.errors import Conflict, NotFound, ValidationError
from services.common.tokens import Principal
from services.common.topics import MODERATION_ACTIONS, MODERATION_ESCALATIONS
from services.moderation import audit
from services.moderation import queries as q

log = logging.getLogger(__name__)

PRODUCER = "moderation"
PAGING_LEVELS = ("high", "imminent")
STATUSES = ("open", "acknowledged", "resolved")


async def open_escalation(conn: asyncpg.Connection, *, post: dict[str, Any], level: str, evidence: list,
                          repage_seconds: int, trace_id: str) -> str | None:
    """Open the post's escalation (one per post) and publish it; None if it already had one."""
    escalation_id = uuid.uuid4()
    pages = level in PAGING_LEVELS
    next_page = datetime.now(timezone.utc) + timedelta(seconds=repage_seconds) if pages else None
    row = await conn.fetchrow(q.INSERT_ESCALATION_LEVEL, escalation_id, uuid.UUID(str(post["post_id"])),
                              post["version"], uuid.UUID(str(post["author_id"])), post["community"], level,
                              json.dumps(evidence), next_page)
    if row is None:
        return None
    await outbox.enqueue(conn, MODERATION_ESCALATIONS, Event.create(
        "escalation.opened", key=str(escalation_id), producer=PRODUCER, trace_id=trace_id,
        data={"escalation_id": str(escalation_id), "post_id": str(post["post_id"]),
              "author_id": str(post["author_id"]), "level": level, "community": post["community"],
              "pages": pages, "opened_at": row["opened_at"].isoformat()},
    ))
    return str(escalation_id)


class EscalationDesk:
    """What crisis staff do with escalations."""

    def __init__(self, pool: asyncpg.Pool, repage_seconds: int) -> None:
        self._pool = pool
        self._repage_seconds = repage_seconds

    async def list(self, status: str = "open", limit: int = 200) -> list[dict[str, Any]]:
        if status not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}", field="status")
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.LIST_ESCALATIONS, status, float(self._repage_seconds), limit)
        return [_shape(r) for r in rows]

    async def get(self, escalation_id: str) -> dict[str, Any]:
        async with connection(self._pool) as conn:
            return await self._get(conn, uuid.UUID(escalation_id))

    async def _get(self, conn: asyncpg.Connection, escalation_id: uuid.UUID) -> dict[str, Any]:
        row = await conn.fetchrow(q.ESCALATION_BY_ID, escalation_id, float(self._repage_seconds))
        if row is None:
            raise NotFound("no such escalation")
        item = _shape(row)
        item["notes"] = [{"id": str(n["id"]), "author_id": str(n["author_id"]), "note": n["note"],
                          "created_at": n["created_at"].isoformat()}
                         for n in await conn.fetch(q.ESCALATION_NOTES, escalation_id)]
        return item

    async def acknowledge(self, staff: Principal, escalation_id: str, trace_id: str) -> dict[str, Any]:
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, escalation_id)
            if row["status"] != "open":
                raise Conflict(f"the escalation is {row['status']}, not open")
            await conn.execute(q.ACKNOWLEDGE, row["id"], uuid.UUID(staff.user_id))
            await audit.record(conn, actor=staff, action="escalation.acknowledge", subject=f"escalation:{row['id']}",
                               before={"status": "open"}, after={"status": "acknowledged"})
            await self._publish(conn, "escalation.acknowledged", row, trace_id, by=staff.user_id)
            return await self._get(conn, row["id"])

    async def add_note(self, staff: Principal, escalation_id: str, note: str) -> dict[str, Any]:
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, escalation_id)
            await conn.execute(q.INSERT_ESCALATION_NOTE, uuid.uuid4(), row["id"], uuid.UUID(staff.user_id), note)
            await audit.record(conn, actor=staff, action="escalation.note", subject=f"escalation:{row['id']}")
            return await self._get(conn, row["id"])

    async def resolve(self, staff: Principal, escalation_id: str, outcome: str | None, note: str | None,
                      trace_id: str) -> dict[str, Any]:
        if outcome not in ESCALATION_OUTCOMES:
            raise ValidationError(f"outcome is required, one of {', '.join(ESCALATION_OUTCOMES)}", field="outcome")
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, escalation_id)
            if row["status"] == "resolved":
                raise Conflict("the escalation is already resolved")
            await conn.execute(q.RESOLVE_ESCALATION, row["id"], outcome)
            if note:
                await conn.execute(q.INSERT_ESCALATION_NOTE, uuid.uuid4(), row["id"], uuid.UUID(staff.user_id), note)
            await audit.record(conn, actor=staff, action="escalation.resolve", subject=f"escalation:{row['id']}",
                               reason=outcome, before={"status": row["status"]},
                               after={"status": "resolved", "outcome": outcome})
            await self._publish(conn, "escalation.resolved", row, trace_id, outcome=outcome)
            return await self._get(conn, row["id"])

    async def outreach(self, staff: Principal, escalation_id: str, message: str, trace_id: str) -> dict[str, Any]:
        """A private message from crisis staff to the author (delivered by notifications)."""
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, escalation_id)
            action_id = uuid.uuid4()
            await audit.record(conn, actor=staff, action="escalation.outreach", subject=f"escalation:{row['id']}")
            await outbox.enqueue(conn, MODERATION_ACTIONS, Event.create(
                "action.taken", key=str(row["author_id"]), producer=PRODUCER, trace_id=trace_id,
                data={"action_id": str(action_id), "action": "outreach", "user_id": str(row["author_id"]),
                      "post_id": str(row["post_id"]), "escalation_id": str(row["id"]),
                      "moderator_id": staff.user_id, "message": message},
            ))
            return await self._get(conn, row["id"])

    async def _lock(self, conn: asyncpg.Connection, escalation_id: str) -> asyncpg.Record:
        row = await conn.fetchrow(q.ESCALATION_FOR_UPDATE, uuid.UUID(escalation_id))
        if row is None:
            raise NotFound("no such escalation")
        return row

    async def _publish(self, conn, kind: str, row, trace_id: str, **data: Any) -> None:
        await outbox.enqueue(conn, MODERATION_ESCALATIONS, Event.create(
            kind, key=str(row["id"]), producer=PRODUCER, trace_id=trace_id,
            data={"escalation_id": str(row["id"]), "post_id": str(row["post_id"]), "level": row["level"], **data},
        ))


class Repager:
    """Re-pages open escalations nobody acknowledged; the second miss goes to tier 2."""

    def __init__(self, pool: asyncpg.Pool, repage_seconds: int, tick_seconds: float = 1.0) -> None:
        self._pool = pool
        self._repage_seconds = repage_seconds
        self._tick = tick_seconds
        self._stopped = asyncio.Event()
        self.repages = 0

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.repage_due()
            except Exception:  # noqa: BLE001 - a timer must not die of one failure; it runs again next tick
                log.warning("re-paging failed; retrying", exc_info=True)
            try:
                await asyncio.wait_for(self._stopped.wait(), self._tick)
            except asyncio.TimeoutError:
                pass

    async def repage_due(self, limit: int = 50) -> int:
        async with transaction(self._pool) as conn:
            due = await conn.fetch(q.CLAIM_DUE_REPAGES, limit)
            for row in due:
                misses = row["page_count"] + 1
                tier = 2 if misses >= 2 else 1
                await conn.execute(q.RECORD_REPAGE, row["id"], tier, float(self._repage_seconds))
                await audit.record(conn, actor=None, action="escalation.repage", subject=f"escalation:{row['id']}",
                                   after={"misses": misses, "tier": tier})
                await outbox.enqueue(conn, MODERATION_ESCALATIONS, Event.create(
                    "escalation.repaged", key=str(row["id"]), producer=PRODUCER,
                    data={"escalation_id": str(row["id"]), "post_id": str(row["post_id"]), "tier": tier,
                          "misses": misses, "level": row["level"]},
                ))
        self.repages += len(due)
        return len(due)


def _shape(r: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(r["id"]), "post_id": str(r["post_id"]), "post_version": r["post_version"],
            "author_id": str(r["author_id"]), "community": r["community"], "level": r["level"],
            "status": r["status"], "evidence": json.loads(r["evidence"]), "opened_at": r["opened_at"].isoformat(),
            "overdue": r["overdue"], "outcome": r["outcome"], "tier": r["tier"], "page_count": r["page_count"],
            "acknowledged_at": r["acknowledged_at"].isoformat() if r["acknowledged_at"] else None}
