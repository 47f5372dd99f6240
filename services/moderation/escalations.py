"""Crisis escalations, the domain: open → acknowledged → resolved, with notes, outreach and re-paging.

Escalations follow the post: a post has at most one live (open or acknowledged)
escalation; a crisis edit that raises the level upgrades it (and pages again),
and after it is resolved a crisis in a newer post version opens a new one
(:func:`open_escalation`).

Every transition is one transaction: the row, an audit entry and the event on
``moderation.escalations`` (through the outbox) commit together. Re-page timers
are ``next_page_at`` columns in PostgreSQL, so they survive restarts and are
shared safely by several moderation instances (``FOR UPDATE SKIP LOCKED``).

Who calls what: the crisis screen and the decision worker :func:`open_escalation`
(``handlers.py``), a moderator's escalate :func:`escalate_by_moderator` (``review.py``),
crisis staff the :class:`EscalationDesk` (``views.py``), and the :class:`Repager` runs in
the background.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from services.common import outbox
from services.common.db import connection, transaction
from services.common.domain import CRISIS_LEVELS, LEVEL_RANK, PAGING_LEVELS
from services.common.errors import Conflict, NotFound
from services.common.periodic import PeriodicWorker
from services.common.tokens import Principal
from services.common.topics import MODERATION_ACTIONS, MODERATION_ESCALATIONS
from services.moderation import audit, events
from services.moderation import queries as q

#: An escalation's states, in the order it goes through them.
STATUSES = ("open", "acknowledged", "resolved")
_RETRIES = 3


@dataclass(frozen=True)
class Escalated:
    """What one crisis signal did to the post's escalations."""

    escalation_id: str | None  # the live escalation (opened, upgraded or left as it was), if any
    change: str  # "opened", "upgraded" or "unchanged"
    level: str | None = None  # the live escalation's level after the call

    @property
    def changed(self) -> bool:
        return self.change != "unchanged"


async def open_escalation(conn: asyncpg.Connection, *, post: dict[str, Any], level: str, evidence: list,
                          repage_seconds: int, trace_id: str) -> str | None:
    """Escalate a crisis signal on ``post`` (a post version); the id opened or upgraded, None if nothing changed.

    * The post has a live (open or acknowledged) escalation: a HIGHER level for this version or a
      newer one upgrades it (level, post version, evidence, an audit entry, ``escalation.upgraded``;
      a paging level needs acknowledging again and is paged). The same or a lower level changes
      nothing, so a redelivered event is harmless.
    * It has none: a new escalation is opened (``escalation.opened``) unless an earlier escalation
      already took in this version or a newer one: a resolved escalation is never re-opened by a
      redelivered or replayed event, only by a crisis in a newer version.

    Safe to call concurrently for one post (the decision worker and the crisis screen do): callers
    are serialised per post by a transaction-scoped advisory lock (see ``queries``). Call it in the
    transaction that commits the caller's work; without one it runs in its own.
    """
    result = await _escalate(conn, post=post, level=level, evidence=evidence, repage_seconds=repage_seconds,
                             trace_id=trace_id, actor=None, reopen_same_version=False)
    return result.escalation_id if result.changed else None


async def escalate_by_moderator(conn: asyncpg.Connection, *, post: dict[str, Any], level: str, evidence: list,
                                repage_seconds: int, trace_id: str, moderator: Principal) -> Escalated:
    """A moderator's escalate: like :func:`open_escalation`, except that a person asked for it, so after a
    resolved escalation it opens a new one for the same post version too (no redelivery to guard against)."""
    return await _escalate(conn, post=post, level=level, evidence=evidence, repage_seconds=repage_seconds,
                           trace_id=trace_id, actor=moderator, reopen_same_version=True)


async def _escalate(conn: asyncpg.Connection, *, post: dict[str, Any], level: str, evidence: list,
                    repage_seconds: int, trace_id: str, actor: Principal | None,
                    reopen_same_version: bool) -> Escalated:
    if level not in LEVEL_RANK:
        raise ValueError(f"unknown crisis level {level!r}")
    if not conn.is_in_transaction():  # the advisory lock and the outbox need one
        async with conn.transaction():
            return await _escalate(conn, post=post, level=level, evidence=evidence, repage_seconds=repage_seconds,
                                   trace_id=trace_id, actor=actor, reopen_same_version=reopen_same_version)
    post_id, version = uuid.UUID(str(post["post_id"])), int(post["version"])
    await conn.execute(q.LOCK_POST_ESCALATIONS, str(post_id))
    for _ in range(_RETRIES):
        live = await conn.fetchrow(q.LIVE_ESCALATION_OF_POST, post_id)
        if live is not None:
            return await _raise_or_take_in(conn, live, post=post, level=level, evidence=evidence,
                                           repage_seconds=repage_seconds, trace_id=trace_id, actor=actor,
                                           manual=reopen_same_version)
        if not reopen_same_version:
            covered = await conn.fetchval(q.COVERED_VERSION_OF_POST, post_id)
            if covered is not None and version <= covered:
                return Escalated(None, "unchanged")  # this version was handled by an earlier escalation
        opened = await _insert(conn, post=post, level=level, evidence=evidence, repage_seconds=repage_seconds,
                               trace_id=trace_id)
        if opened is not None:
            return Escalated(opened, "opened", level)
        # A live escalation appeared that did not wait for our lock (a writer outside open_escalation):
        # read it and upgrade it or take this version in.
    raise RuntimeError(f"could not open or find the live escalation of post {post_id}")


async def _insert(conn: asyncpg.Connection, *, post: dict[str, Any], level: str, evidence: list,
                  repage_seconds: int, trace_id: str) -> str | None:
    escalation_id = uuid.uuid4()
    pages = level in PAGING_LEVELS
    next_page = datetime.now(timezone.utc) + timedelta(seconds=repage_seconds) if pages else None
    row = await conn.fetchrow(q.INSERT_ESCALATION_LEVEL, escalation_id, uuid.UUID(str(post["post_id"])),
                              int(post["version"]), uuid.UUID(str(post["author_id"])), post["community"], level,
                              json.dumps(evidence), next_page)
    if row is None:
        return None
    await outbox.enqueue(conn, MODERATION_ESCALATIONS, events.escalation_opened(
        escalation_id, post, level=level, pages=pages, opened_at=row["opened_at"], trace_id=trace_id))
    return str(escalation_id)


async def _raise_or_take_in(conn: asyncpg.Connection, live: asyncpg.Record, *, post: dict[str, Any], level: str,
                            evidence: list, repage_seconds: int, trace_id: str, actor: Principal | None,
                            manual: bool) -> Escalated:
    """Upgrade the live escalation to a higher level, or take the version in and change nothing else.

    A crisis signal for a version OLDER than the one the escalation is for never upgrades it (a
    replay of a version an earlier, resolved escalation handled would page staff twice); a
    moderator's escalate is about the post as it is now, so it may.
    """
    version = int(post["version"])
    escalation_id = str(live["id"])
    if LEVEL_RANK[level] <= LEVEL_RANK[live["level"]] or (not manual and version < live["post_version"]):
        await conn.execute(q.COVER_VERSION, live["id"], version)
        return Escalated(escalation_id, "unchanged", live["level"])
    pages = level in PAGING_LEVELS
    row = await conn.fetchrow(q.UPGRADE_ESCALATION, live["id"], level, version, json.dumps(evidence), pages,
                              float(repage_seconds))
    status = "open" if pages else live["status"]
    await audit.record(conn, actor=actor, action="escalation.upgrade", subject=f"escalation:{escalation_id}",
                       before={"level": live["level"], "post_version": live["post_version"], "status": live["status"]},
                       after={"level": level, "post_version": max(version, live["post_version"]), "status": status})
    await outbox.enqueue(conn, MODERATION_ESCALATIONS, events.escalation_upgraded(
        live, level=level, pages=pages, opened_at=row["opened_at"], post_version=max(version, live["post_version"]),
        trace_id=trace_id))
    return Escalated(escalation_id, "upgraded", level)


@dataclass(frozen=True)
class EscalationRecord:
    """One escalation as crisis staff read it: its row (``queries.ESCALATION_BY_ID``) and its notes, oldest first."""

    row: asyncpg.Record
    notes: list[asyncpg.Record]


class EscalationDesk:
    """What crisis staff do with escalations; every change is audited and announced in its transaction."""

    def __init__(self, pool: asyncpg.Pool, repage_seconds: int) -> None:
        self._pool = pool
        self._repage_seconds = repage_seconds

    async def list(self, status: str = "open", limit: int = 200) -> list[asyncpg.Record]:
        """``status``: one of :data:`STATUSES`; the most urgent level first, then the oldest."""
        async with connection(self._pool) as conn:
            return await conn.fetch(q.LIST_ESCALATIONS, status, float(self._repage_seconds), limit,
                                    list(CRISIS_LEVELS))

    async def get(self, escalation_id: str) -> EscalationRecord:
        async with connection(self._pool) as conn:
            return await self._get(conn, uuid.UUID(escalation_id))

    async def _get(self, conn: asyncpg.Connection, escalation_id: uuid.UUID) -> EscalationRecord:
        row = await conn.fetchrow(q.ESCALATION_BY_ID, escalation_id, float(self._repage_seconds))
        if row is None:
            raise NotFound("no such escalation")
        return EscalationRecord(row, await conn.fetch(q.ESCALATION_NOTES, escalation_id))

    async def acknowledge(self, staff: Principal, escalation_id: str, trace_id: str) -> EscalationRecord:
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, escalation_id)
            if row["status"] != "open":
                raise Conflict(f"the escalation is {row['status']}, not open")
            await conn.execute(q.ACKNOWLEDGE, row["id"], uuid.UUID(staff.user_id))
            await audit.record(conn, actor=staff, action="escalation.acknowledge", subject=f"escalation:{row['id']}",
                               before={"status": "open"}, after={"status": "acknowledged"})
            await outbox.enqueue(conn, MODERATION_ESCALATIONS,
                                 events.escalation_acknowledged(row, by=staff.user_id, trace_id=trace_id))
            return await self._get(conn, row["id"])

    async def add_note(self, staff: Principal, escalation_id: str, note: str) -> EscalationRecord:
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, escalation_id)
            await conn.execute(q.INSERT_ESCALATION_NOTE, uuid.uuid4(), row["id"], uuid.UUID(staff.user_id), note)
            await audit.record(conn, actor=staff, action="escalation.note", subject=f"escalation:{row['id']}")
            return await self._get(conn, row["id"])

    async def resolve(self, staff: Principal, escalation_id: str, outcome: str, note: str | None,
                      trace_id: str) -> EscalationRecord:
        """``outcome``: one of ``services.common.envelope.ESCALATION_OUTCOMES`` (the view checks it)."""
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
            await outbox.enqueue(conn, MODERATION_ESCALATIONS,
                                 events.escalation_resolved(row, outcome=outcome, trace_id=trace_id))
            return await self._get(conn, row["id"])

    async def outreach(self, staff: Principal, escalation_id: str, message: str, trace_id: str) -> EscalationRecord:
        """A private message from crisis staff to the author (delivered by notifications)."""
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, escalation_id)
            await audit.record(conn, actor=staff, action="escalation.outreach", subject=f"escalation:{row['id']}")
            await outbox.enqueue(conn, MODERATION_ACTIONS, events.action_taken(
                "outreach", row["author_id"], trace_id, post_id=str(row["post_id"]), escalation_id=str(row["id"]),
                moderator_id=staff.user_id, message=message))
            return await self._get(conn, row["id"])

    async def _lock(self, conn: asyncpg.Connection, escalation_id: str) -> asyncpg.Record:
        row = await conn.fetchrow(q.ESCALATION_FOR_UPDATE, uuid.UUID(escalation_id))
        if row is None:
            raise NotFound("no such escalation")
        return row


class Repager(PeriodicWorker):
    """Re-pages open escalations nobody acknowledged, every ``tick_seconds``; the second miss goes to tier 2."""

    name = "repager"

    def __init__(self, pool: asyncpg.Pool, repage_seconds: int, tick_seconds: float = 1.0) -> None:
        super().__init__(tick_seconds)
        self._pool = pool
        self._repage_seconds = repage_seconds

    async def tick(self) -> None:
        await self.repage_due()

    async def repage_due(self, limit: int = 50) -> int:
        async with transaction(self._pool) as conn:
            due = await conn.fetch(q.CLAIM_DUE_REPAGES, limit)
            for row in due:
                misses = row["page_count"] + 1
                tier = 2 if misses >= 2 else 1
                await conn.execute(q.RECORD_REPAGE, row["id"], tier, float(self._repage_seconds))
                await audit.record(conn, actor=None, action="escalation.repage", subject=f"escalation:{row['id']}",
                                   after={"misses": misses, "tier": tier})
                await outbox.enqueue(conn, MODERATION_ESCALATIONS,
                                     events.escalation_repaged(row, tier=tier, misses=misses))
        return len(due)
