"""The moderators' review queue, the domain: read, claim and act — every action audited.

One item per post. Reasons from ML, policy, reports and appeals merge into it.
Order: crisis > threat > highest score > weighted reports > age (``priority``
carries the first two, then ``top_score``, ``report_weight`` and age).

An action is one transaction: the item, the reports' outcome, the author's
record, an audit entry and an ``action.taken`` event (outbox) commit together.
Forum applies it to the post or account; notifications tells the author
(what and why, how to appeal) and the reporters (that it was handled).

The views (``views.py``) check the request and shape the JSON; this module
reads and writes (``queries.py``) and refuses what the rules forbid.
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
from services.common.domain import STAFF_ROLES
from services.common.errors import Conflict, Forbidden, NotFound
from services.common.suspensions import lift_suspension, record_suspension
from services.common.tokens import Principal
from services.common.topics import MODERATION_ACTIONS
from services.moderation import audit, events
from services.moderation import queries as q
from services.moderation.config import ReviewSettings
from services.moderation.escalations import escalate_by_moderator

QUEUE_STATUSES = ("open", "resolved")
ACTIONS = ("approve", "remove", "redact", "dismiss", "warn", "suspend", "escalate", "note")
# What each action does to the item and to the reports on the post.
RESOLVES = {"approve": "approved", "remove": "removed", "redact": "redacted", "dismiss": "dismissed"}
REPORT_OUTCOME = {"approve": "dismissed", "dismiss": "dismissed", "remove": "upheld", "redact": "upheld"}
PERMANENT = datetime(9999, 12, 31, tzinfo=timezone.utc)
# Sanctions on the account itself; only an admin may take them against staff (issue 24).
SANCTIONS = ("warn", "suspend")
MAX_SUSPENSION_HOURS = 24 * 365 * 10


@dataclass(frozen=True)
class ActionRequest:
    """A moderator's action on a queue item, checked by the view (``views.act_on_queue_item``)."""

    action: str
    reason: str | None = None
    message: str | None = None
    duration_hours: float | None = None
    permanent: bool = False
    redacted_body: str | None = None
    level: str = "high"


@dataclass(frozen=True)
class AuthorRecord:
    """What moderation knows of a member: their first post, the decisions on their posts, their sanctions."""

    user_id: uuid.UUID
    first_post_at: datetime | None
    decisions: dict[str, int]  # outcome -> how many
    sanctions: asyncpg.Record | None  # queries.USER_RECORD (warnings, suspensions, suspended_until); None: none


@dataclass(frozen=True)
class CaseFile:
    """One queue item with everything a moderator reads before acting on it."""

    item: asyncpg.Record  # queries.QUEUE_ITEM
    post: asyncpg.Record | None  # queries.POST_BY_ID; None: moderation never saw the post
    history: list[asyncpg.Record]  # the post's versions, oldest first
    thread_context: list[asyncpg.Record]  # the posts around it in its thread
    decision: asyncpg.Record | None  # the latest decision on the post
    reports: list[asyncpg.Record]
    appeals: list[asyncpg.Record]
    author: AuthorRecord
    notes: list[asyncpg.Record]  # moderators' notes on the item, oldest first


class ReviewQueue:
    def __init__(self, pool: asyncpg.Pool, settings: ReviewSettings, repage_seconds: int) -> None:
        self._pool = pool
        self._settings = settings
        self._repage_seconds = repage_seconds

    # --- reading ------------------------------------------------------------------

    async def page(self, *, status: str = "open", community: str | None = None, reason: str | None = None,
                   after: list[Any] | None = None, limit: int = 50) -> tuple[list[asyncpg.Record], bool]:
        """Up to ``limit`` items in queue order after the sort key ``after`` (the last item's
        ``[priority, top_score, report_weight, created_at, id]``), and whether more follow."""
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.QUEUE_PAGE, status, community, reason,
                                    json.dumps(after) if after is not None else None, limit + 1,
                                    float(self._settings.overdue_seconds))
        return rows[:limit], len(rows) > limit

    async def item(self, item_id: str) -> CaseFile:
        async with connection(self._pool) as conn:
            return await self._case_file(conn, uuid.UUID(item_id))

    async def _case_file(self, conn: asyncpg.Connection, item_id: uuid.UUID) -> CaseFile:
        row = await conn.fetchrow(q.QUEUE_ITEM, item_id, float(self._settings.overdue_seconds))
        if row is None:
            raise NotFound("no such queue item")
        post = await conn.fetchrow(q.POST_BY_ID, row["post_id"])
        decision = await conn.fetchrow(q.LATEST_DECISION, row["post_id"])
        history = await conn.fetch(q.POST_HISTORY, row["post_id"])
        context = [] if post is None else await conn.fetch(q.THREAD_CONTEXT, post["thread_id"], post["received_at"], 3)
        reports = await conn.fetch(q.REPORTS_OF_POST, row["post_id"])
        appeals = await conn.fetch(q.APPEALS_OF_POST, row["post_id"])
        author = await self._author_record(conn, row["author_id"])
        notes = await conn.fetch(q.NOTES_OF_ITEM, item_id)
        return CaseFile(row, post, history, context, decision, reports, appeals, author, notes)

    async def _author_record(self, conn: asyncpg.Connection, author_id: uuid.UUID) -> AuthorRecord:
        sanctions = await conn.fetchrow(q.USER_RECORD, author_id)
        first_seen = await conn.fetchval(q.AUTHOR_FIRST_SEEN, author_id)
        decisions = {r["outcome"]: r["n"] for r in await conn.fetch(q.AUTHOR_DECISIONS, author_id)}
        return AuthorRecord(author_id, first_seen, decisions, sanctions)

    # --- claiming and acting ----------------------------------------------------------

    async def claim(self, moderator: Principal, item_id: str) -> CaseFile:
        await self._refuse_out_of_bounds(moderator, item_id, "claim")
        async with transaction(self._pool) as conn:
            row = await self._lock(conn, item_id)
            self._require_not_claimed_by_other(row, moderator)
            await conn.execute(q.CLAIM, row["id"], uuid.UUID(moderator.user_id), float(self._settings.claim_seconds))
            await audit.record(conn, actor=moderator, action="queue.claim", subject=f"post:{row['post_id']}")
            return await self._case_file(conn, row["id"])

    async def act(self, moderator: Principal, item_id: str, request: ActionRequest, trace_id: str) -> CaseFile:
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
                await outbox.enqueue(conn, MODERATION_ACTIONS, events.action_taken(
                    request.action, row["author_id"], trace_id, post_id=str(row["post_id"]),
                    post_version=post["version"], moderator_id=moderator.user_id, reason=request.reason,
                    message=request.message, reporter_ids=reporters, community=row["community"], **extra))
            return await self._case_file(conn, row["id"])

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
            row = await conn.fetchrow(q.QUEUE_ITEM_SUBJECT, uuid.UUID(item_id))
            if row is None:
                return  # the action's own transaction answers 404
            refusal = None
            if str(row["author_id"]) == actor.user_id:
                refusal = "you cannot act on a case about your own post; another moderator will"
            elif action in SANCTIONS and actor.role != "admin":
                role = await conn.fetchval(q.AUTHOR_ROLE, row["author_id"])
                if role is None or role in STAFF_ROLES:
                    refusal = "a moderator cannot warn or suspend staff or admins; an admin can"
            if refusal is None:
                return
            await audit.record(conn, actor=actor, action="queue.refused", subject=f"post:{row['post_id']}",
                               reason=refusal, after={"action": action})
        raise Forbidden(refusal)

    async def unsuspend(self, admin: Principal, user_id: str, reason: str | None, trace_id: str) -> AuthorRecord:
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
            await outbox.enqueue(conn, MODERATION_ACTIONS, events.action_taken(
                "unsuspend", target, trace_id, moderator_id=admin.user_id, reason=reason))
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

    async def _lock(self, conn: asyncpg.Connection, item_id: str) -> asyncpg.Record:
        row = await conn.fetchrow(q.QUEUE_ITEM_FOR_UPDATE, uuid.UUID(item_id))
        if row is None:
            raise NotFound("no such queue item")
        return row

    @staticmethod
    def _require_not_claimed_by_other(row: asyncpg.Record, moderator: Principal) -> None:
        if row["claim_live"] and str(row["claimed_by"]) != moderator.user_id:
            raise Conflict("another moderator has claimed this item")

    # --- audit ---------------------------------------------------------------------------

    async def audit_page(self, *, actor: uuid.UUID | None, subject: str | None, action: str | None,
                         after: int | None, limit: int = 100) -> tuple[list[asyncpg.Record], bool]:
        """Up to ``limit`` audit entries after the entry ``after`` (oldest first), and whether more follow."""
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.AUDIT_PAGE, actor, subject, action, after, limit + 1)
        return rows[:limit], len(rows) > limit
