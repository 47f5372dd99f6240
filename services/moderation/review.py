"""The moderators' review queue: list, read, claim and act — every action audited.

One item per post. Reasons from ML, policy, reports and appeals merge into it.
Order: crisis > threat > highest score > weighted reports > age (``priority``
carries the first two, then ``top_score``, ``report_weight`` and age).

An action is one transaction: the item, the reports' outcome, the author's
record, an audit entry and an ``action.taken`` event (outbox) commit together.
Forum applies it to the post or account; notifications tells the author
(what and why, how to appeal) and the reporters (that it was handled).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from services.common import outbox
from services.common.db import connection, transaction
from services.common.envelope import Event
from services.common.errors import Conflict, Forbidden, NotFound, ValidationError
from services.common.suspensions import lift_suspension, record_suspension
from services.common.tokens import Principal
from services.common.topics import MODERATION_ACTIONS
from services.moderation import audit
from services.moderation import queries as q
from services.moderation.config import ReviewSettings
from services.moderation.escalations import escalate_by_moderator

PRODUCER = "moderation"
QUEUE_STATUSES = ("open", "resolved")
ACTIONS = ("approve", "remove", "redact", "dismiss", "warn", "suspend", "escalate", "note")
# What each action does to the item and to the reports on the post.
RESOLVES = {"approve": "approved", "remove": "removed", "redact": "redacted", "dismiss": "dismissed"}
REPORT_OUTCOME = {"approve": "dismissed", "dismiss": "dismissed", "remove": "upheld", "redact": "upheld"}
PERMANENT = datetime(9999, 12, 31, tzinfo=timezone.utc)
# Sanctions on the account itself; only an admin may take them against these roles (issue 24).
SANCTIONS = ("warn", "suspend")
PROTECTED_ROLES = ("moderator", "crisis_staff", "admin")
MAX_SUSPENSION_HOURS = 24 * 365 * 10


@dataclass(frozen=True)
class ActionRequest:
    action: str
    reason: str | None = None
    message: str | None = None
    duration_hours: float | None = None
    permanent: bool = False
    redacted_body: str | None = None
    level: str = "high"


class ReviewQueue:
    def __init__(self, pool: asyncpg.Pool, settings: ReviewSettings, repage_seconds: int) -> None:
        self._pool = pool
        self._settings = settings
        self._repage_seconds = repage_seconds

    # --- reading ------------------------------------------------------------------

    async def page(self, *, status: str = "open", community: str | None = None, reason: str | None = None,
                   cursor: str | None = None, limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
        if status not in QUEUE_STATUSES:
            raise ValidationError(f"status must be one of {', '.join(QUEUE_STATUSES)}", field="status")
        after = _decode_cursor(cursor)
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.QUEUE_PAGE, status, community, reason, after, limit + 1,
                                    float(self._settings.overdue_seconds))
        items = [_summary(r) for r in rows[:limit]]
        next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return items, next_cursor

    async def overdue_count(self) -> int:
        async with connection(self._pool) as conn:
            return await conn.fetchval(q.COUNT_OVERDUE, float(self._settings.overdue_seconds))

    async def item(self, item_id: str) -> dict[str, Any]:
        async with connection(self._pool) as conn:
            return await self._detail(conn, _uuid(item_id))

    async def _detail(self, conn: asyncpg.Connection, item_id: uuid.UUID) -> dict[str, Any]:
        row = await conn.fetchrow(q.QUEUE_ITEM, item_id, float(self._settings.overdue_seconds))
        if row is None:
            raise NotFound("no such queue item")
        item = _summary(row)
        post = await conn.fetchrow(q.POST_BY_ID, row["post_id"])
        decision = await conn.fetchrow(q.LATEST_DECISION, row["post_id"])
        item["post"] = _post(post) if post else None
        item["history"] = [{"version": h["version"], "title": h["title"], "body": h["body"],
                            "received_at": h["received_at"].isoformat()}
                           for h in await conn.fetch(q.POST_HISTORY, row["post_id"])]
        item["thread_context"] = [] if post is None else [
            {"post_id": str(c["post_id"]), "author_id": str(c["author_id"]), "version": c["version"],
             "body": c["body"]} for c in await conn.fetch(q.THREAD_CONTEXT, post["thread_id"], post["received_at"], 3)]
        item["signals"] = json.loads(decision["signals"]) if decision else []
        item["decision"] = None if decision is None else {
            "version": decision["version"], "outcome": decision["outcome"], "reasons": json.loads(decision["reasons"]),
            "policy_version": decision["policy_version"], "model": decision["model"]}
        item["reports"] = [{"report_id": str(r["report_id"]), "reporter_id": str(r["reporter_id"]),
                            "reason": r["reason"], "note": r["note"], "post_version": r["post_version"],
                            "body_snapshot": r["body_snapshot"], "weight": r["weight"], "outcome": r["outcome"],
                            "created_at": r["created_at"].isoformat()}
                           for r in await conn.fetch(q.REPORTS_OF_POST, row["post_id"])]
        item["appeals"] = [{"appeal_id": str(a["appeal_id"]), "note": a["note"], "contested": json.loads(a["decision"]),
                            "created_at": a["created_at"].isoformat()}
                           for a in await conn.fetch(q.APPEALS_OF_POST, row["post_id"])]
        item["author_record"] = await self._author_record(conn, row["author_id"])
        item["notes"] = [{"id": str(n["id"]), "author_id": str(n["author_id"]), "note": n["note"],
                          "created_at": n["created_at"].isoformat()}
                         for n in await conn.fetch(q.NOTES_OF_ITEM, item_id)]
        return item

    async def _author_record(self, conn: asyncpg.Connection, author_id: uuid.UUID) -> dict[str, Any]:
        record = await conn.fetchrow(q.USER_RECORD, author_id)
        first_seen = await conn.fetchval(q.AUTHOR_FIRST_SEEN, author_id)
        decisions = {r["outcome"]: r["n"] for r in await conn.fetch(q.AUTHOR_DECISIONS, author_id)}
        return {"user_id": str(author_id), "first_post_at": first_seen.isoformat() if first_seen else None,
                "decisions": decisions, "warnings": record["warnings"] if record else 0,
                "suspensions": record["suspensions"] if record else 0,
                "suspended_until": record["suspended_until"].isoformat() if record and record["suspended_until"]
                else None}

    # --- claiming and acting ----------------------------------------------------------

    async def claim(self, moderator: Principal, item_id: str) -> dict[str, Any]:
        await self._refuse_out_of_bounds(moderator, item_id, "claim")
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, item_id)
            self._require_not_claimed_by_other(row, moderator)
            await conn.execute(q.CLAIM, row["id"], uuid.UUID(moderator.user_id), float(self._settings.claim_seconds))
            await audit.record(conn, actor=moderator, action="queue.claim", subject=f"post:{row['post_id']}")
            return await self._detail(conn, row["id"])

    async def act(self, moderator: Principal, item_id: str, request: ActionRequest, trace_id: str) -> dict[str, Any]:
        self._validate(request)
        await self._refuse_out_of_bounds(moderator, item_id, request.action)
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, item_id)
            self._require_not_claimed_by_other(row, moderator)
            post = await conn.fetchrow(q.POST_BY_ID, row["post_id"])
            if post is None:
                raise NotFound("the post of this item is unknown")
            extra: dict[str, Any] = {}
            reporters: list[str] = []
            if request.action in REPORT_OUTCOME:
                reporters = [str(r["reporter_id"]) for r in
                             await conn.fetch(q.RESOLVE_REPORTS, row["post_id"], REPORT_OUTCOME[request.action])]
            if request.action == "warn":
                await conn.execute(q.RECORD_WARNING, row["author_id"])
            elif request.action == "suspend":
                extra["until"] = (await self._suspend(conn, row["author_id"], request)).isoformat()
            elif request.action == "redact":
                extra["redacted_body"] = request.redacted_body
            elif request.action == "note":
                await conn.execute(q.INSERT_NOTE, uuid.uuid4(), row["id"], uuid.UUID(moderator.user_id), request.message)
            elif request.action == "escalate":
                # Opens one (also after a resolved one), or raises a lower live one; the same or a higher live
                # level is left to crisis staff.
                escalated = await escalate_by_moderator(
                    conn, post=dict(post), level=request.level, repage_seconds=self._repage_seconds, trace_id=trace_id,
                    evidence=[{"code": "moderator_escalation", "reason": request.reason, "by": moderator.user_id}],
                    moderator=moderator)
                if not escalated.changed:
                    raise Conflict(f"this post already has an escalation at level {escalated.level} that is not "
                                   "resolved; crisis staff have it")
                extra["escalation_id"] = escalated.escalation_id
                extra["escalation"] = escalated.change
            if request.action in ("approve", "dismiss"):
                extra["restores"] = await self._restores(conn, row, request.action)
            await conn.execute(q.RELEASE_AND_RESOLVE, row["id"], RESOLVES.get(request.action))
            await audit.record(conn, actor=moderator, action=f"queue.{request.action}", subject=f"post:{row['post_id']}",
                               reason=request.reason,
                               before={"item_status": row["status"], "body": post["body"]
                                       if request.action == "redact" else None},
                               after={"resolution": RESOLVES.get(request.action), **extra})
            if request.action != "note":
                await outbox.enqueue(conn, MODERATION_ACTIONS, Event.create(
                    "action.taken", key=str(row["author_id"]), producer=PRODUCER, trace_id=trace_id,
                    data={"action_id": str(uuid.uuid4()), "action": request.action, "user_id": str(row["author_id"]),
                          "post_id": str(row["post_id"]), "post_version": post["version"],
                          "moderator_id": moderator.user_id, "reason": request.reason, "message": request.message,
                          "reporter_ids": reporters, "community": row["community"], **extra},
                ))
            return await self._detail(conn, row["id"])

    async def _refuse_out_of_bounds(self, actor: Principal, item_id: str, action: str) -> None:
        """Staff powers have bounds (issue 24): 403, and an audit entry, when the actor may not do this.

        * Nobody claims or acts on a case about their own post (a conflict of interest, and the case
          shows who reported it).
        * Only an admin warns or suspends staff (moderators, crisis staff) or an admin; an author whose
          role moderation has never been told is treated as staff (fail closed: forum states the role
          in every post event since issue 24, so this is a post from before it).

        Checked in a transaction of its own, before the action's: an item's post and author never
        change, and the refusal's audit entry must commit although the action does not.
        """
        async with transaction(self._pool) as conn:
            row = await conn.fetchrow(q.QUEUE_ITEM_SUBJECT, _uuid(item_id))
            if row is None:
                return  # the action's own transaction answers 404
            refusal = None
            if str(row["author_id"]) == actor.user_id:
                refusal = "you cannot act on a case about your own post; another moderator will"
            elif action in SANCTIONS and actor.role != "admin":
                role = await conn.fetchval(q.AUTHOR_ROLE, row["author_id"])
                if role is None or role in PROTECTED_ROLES:
                    refusal = "a moderator cannot warn or suspend staff or admins; an admin can"
            if refusal is None:
                return
            await audit.record(conn, actor=actor, action="queue.refused", subject=f"post:{row['post_id']}",
                               reason=refusal, after={"action": action})
        raise Forbidden(refusal)

    async def unsuspend(self, admin: Principal, user_id: str, reason: str | None, trace_id: str) -> dict[str, Any]:
        """An admin lifts a suspension: moderation's record and its own refusal of the account's tokens
        end now, with the audit entry and an ``action.taken`` / ``unsuspend`` that forum (the account's
        ``suspended_until``) and notifications apply, all in one transaction. 409 when none is in force.
        """
        target = uuid.UUID(user_id)
        async with transaction(self._pool) as conn:
            record = await conn.fetchrow(q.USER_RECORD_FOR_UPDATE, target)
            until = record["suspended_until"] if record else None
            if until is None or until <= datetime.now(timezone.utc):
                raise Conflict("this account is not suspended")
            await conn.execute(q.LIFT_SUSPENSION, target)
            await lift_suspension(conn, target)  # this service lets the account's tokens in at its next refresh
            await audit.record(conn, actor=admin, action="user.unsuspend", subject=f"user:{target}", reason=reason,
                               before={"suspended_until": until.isoformat()}, after={"suspended_until": None})
            await outbox.enqueue(conn, MODERATION_ACTIONS, Event.create(
                "action.taken", key=str(target), producer=PRODUCER, trace_id=trace_id,
                data={"action_id": str(uuid.uuid4()), "action": "unsuspend", "user_id": str(target),
                      "moderator_id": admin.user_id, "reason": reason}))
            return await self._author_record(conn, target)

    @staticmethod
    async def _restores(conn: asyncpg.Connection, row: asyncpg.Record, action: str) -> bool:
        """Whether the action makes a hidden post visible again (then, and only then, the author is told).

        Forum republishes on ``dismiss`` only a post hidden by reports; on ``approve`` a post that was
        held, removed by a moderator, or hidden by reports.
        """
        if row["hidden_by_reports"]:
            return True
        if action == "dismiss":
            return False
        verdict = await conn.fetchval(q.LAST_MODERATOR_VERDICT, f"post:{row['post_id']}")
        if verdict is not None:
            return verdict == "queue.remove"
        decision = await conn.fetchrow(q.LATEST_DECISION, row["post_id"])
        return bool(decision and decision["outcome"] != "published")

    async def _suspend(self, conn: asyncpg.Connection, author_id: uuid.UUID, request: ActionRequest) -> datetime:
        """Repeat suspensions step up (1, 3, 7, 30 days by default) unless a duration is given."""
        if request.permanent:
            until = PERMANENT
        elif request.duration_hours is not None:
            until = datetime.now(timezone.utc) + timedelta(hours=request.duration_hours)
        else:
            record = await conn.fetchrow(q.USER_RECORD, author_id)
            previous = record["suspensions"] if record else 0
            steps = self._settings.suspension_steps_days
            until = datetime.now(timezone.utc) + timedelta(days=steps[min(previous, len(steps) - 1)])
        await conn.execute(q.RECORD_SUSPENSION, author_id, until)
        await record_suspension(conn, author_id, until)  # this service refuses the account's tokens at once
        return until

    def _validate(self, request: ActionRequest) -> None:
        if request.action not in ACTIONS:
            raise ValidationError(f"action must be one of {', '.join(ACTIONS)}", field="action")
        if request.action == "remove" and request.reason not in self._settings.removal_reasons:
            raise ValidationError(f"reason must be one of {', '.join(self._settings.removal_reasons)}", field="reason")
        if request.action == "redact" and not request.redacted_body:
            raise ValidationError("redacted_body is required to redact", field="redacted_body")
        if request.action == "note" and not request.message:
            raise ValidationError("message is required for a note", field="message")
        if request.action == "suspend" and request.duration_hours is not None and not (
                0 < request.duration_hours <= MAX_SUSPENSION_HOURS):  # also refuses NaN and infinity
            raise ValidationError(f"duration_hours must be above 0 and at most {MAX_SUSPENSION_HOURS} "
                                  "(or use permanent)", field="duration_hours")
        if request.action == "escalate" and request.level not in ("watch", "high", "imminent"):
            raise ValidationError("level must be watch, high or imminent", field="level")

    async def _lock(self, conn: asyncpg.Connection, item_id: str) -> asyncpg.Record:
        row = await conn.fetchrow(q.QUEUE_ITEM_FOR_UPDATE, _uuid(item_id))
        if row is None:
            raise NotFound("no such queue item")
        return row

    @staticmethod
    def _require_not_claimed_by_other(row: asyncpg.Record, moderator: Principal) -> None:
        if row["claim_live"] and str(row["claimed_by"]) != moderator.user_id:
            raise Conflict("another moderator has claimed this item")

    # --- audit ---------------------------------------------------------------------------

    async def audit_page(self, *, actor: str | None, subject: str | None, action: str | None, cursor: str | None,
                         limit: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        after = None
        if cursor:
            try:
                after = int(cursor)
            except ValueError as e:
                raise ValidationError("invalid cursor", field="cursor") from e
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.AUDIT_PAGE, _uuid(actor, field="actor") if actor else None, subject, action,
                                    after, limit + 1)
        entries = [audit.row_to_entry(r) for r in rows[:limit]]
        return entries, (str(rows[limit - 1]["id"]) if len(rows) > limit else None)


def _summary(r: asyncpg.Record) -> dict[str, Any]:
    claim_live = r["claimed_until"] is not None and r["claimed_until"] > datetime.now(timezone.utc)
    return {"id": str(r["id"]), "post_id": str(r["post_id"]), "community": r["community"],
            "author_id": str(r["author_id"]), "status": r["status"], "priority": r["priority"],
            "reasons": json.loads(r["reasons"]), "top_score": r["top_score"], "report_weight": r["report_weight"],
            "hidden_by_reports": r["hidden_by_reports"], "resolution": r["resolution"],
            "claimed_by": str(r["claimed_by"]) if claim_live else None,
            "claimed_until": r["claimed_until"].isoformat() if claim_live else None,
            "overdue": r["overdue"], "created_at": r["created_at"].isoformat()}


def _post(p: asyncpg.Record) -> dict[str, Any]:
    return {"post_id": str(p["post_id"]), "thread_id": str(p["thread_id"]), "version": p["version"],
            "title": p["title"], "body": p["body"], "deleted": p["deleted"]}


def _encode_cursor(r: asyncpg.Record) -> str:
    key = [r["priority"], r["top_score"], r["report_weight"], r["created_at"].isoformat(), str(r["id"])]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(key, list) and len(key) == 5):
            raise ValueError("bad key")
        uuid.UUID(key[4])
        datetime.fromisoformat(key[3])
        return json.dumps(key)
    except (ValueError, TypeError, json.JSONDecodeError) as e:
        raise ValidationError("invalid cursor", field="cursor") from e


def _uuid(value: str, *, field: str | None = None) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as e:
        if field:
            raise ValidationError(f"{field} must be a UUID", field=field) from e
        raise NotFound("no such queue item") from e
