"""What forum does with what moderation sends: one handler per consumed topic.

``moderation.decisions`` ⇒ :class:`DecisionsHandler`: the machine's verdict on a post version.
``moderation.actions`` ⇒ :class:`ActionsHandler`: a moderator's (or the system's) action on a post or an account.

Both run inside the consumer loop's inbox transaction (``services/common/consumer.py``), so a redelivered
event is applied once. Humans win (issue 24): the decision and the moderator's action travel on different
topics and may arrive in either order, so the SQL (``queries.py``) makes either order end the same way.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime

import asyncpg

from services.common import outbox
from services.common.domain import STAFF_ROLES
from services.common.envelope import DECISION_OUTCOMES, Event
from services.common.errors import EventError
from services.common.handlers import TopicHandler
from services.common.suspensions import lift_suspension, record_suspension
from services.common.topics import FORUM_ACTIVITY
from services.forum import events
from services.forum import queries as q

log = logging.getLogger(__name__)

# The status reason of a post hidden by members' reports (until a moderator acts).
_REPORTS_REASON = [{"code": "reports", "reason": "reports"}]
# What each moderator verdict does to the post version: (new status, statuses it may change).
_POST_ACTIONS = {
    "approve": ("published", ["pending", "held", "removed", "published"]),
    "dismiss": ("published", ["held"]),
    "remove": ("removed", ["pending", "held", "published", "removed"]),
}
# Actions on an account rather than a post.
_SANCTIONS = ("suspend", "warn", "unsuspend")


class DecisionsHandler(TopicHandler):
    """Applies moderation's decisions to the post versions they name."""

    async def on_decision_made(self, conn: asyncpg.Connection, event: Event) -> None:
        """Set the post's status, unless the decision is stale (the post was edited since) or a duplicate.

        A reply published for the first time tells the thread's author (``reply.published``).
        Humans win: a decision for a version a moderator has already judged is ignored, and a post
        hidden by reports stays held whatever the decision says (``queries.APPLY_DECISION``).
        """
        data = event.data
        if data["outcome"] not in DECISION_OUTCOMES:
            raise EventError(f"unknown decision outcome {data['outcome']!r}")
        try:
            post_id = uuid.UUID(data["post_id"])
        except ValueError as e:
            raise EventError("decision names an invalid post id") from e
        applied = await conn.fetchrow(q.APPLY_DECISION, post_id, data["outcome"], json.dumps(data["reasons"]),
                                      data["version"], json.dumps(_REPORTS_REASON))
        if applied is not None and applied["status"] == "published" and data["version"] == 1:
            await _announce_reply(conn, post_id, event.trace_id)


async def _announce_reply(conn: asyncpg.Connection, post_id: uuid.UUID, trace_id: str) -> None:
    post = await q.fetch_one(conn, q.THREAD_AUTHOR_OF_POST, post_id)
    if post is None or post["is_opening"] or post["author_id"] == post["thread_author_id"]:
        return
    await outbox.enqueue(conn, FORUM_ACTIVITY, events.reply_published(post_id, post, trace_id))


class ActionsHandler(TopicHandler):
    """Applies moderators' actions to the posts and accounts they name; stale ones and no-ops change nothing."""

    async def on_action_taken(self, conn: asyncpg.Connection, event: Event) -> None:
        data = event.data
        action = data["action"]
        try:
            user_id = uuid.UUID(data["user_id"])
            post_id = uuid.UUID(data["post_id"]) if data.get("post_id") else None
            until = datetime.fromisoformat(data["until"]) if data.get("until") else None
        except ValueError as e:
            raise EventError("action names an invalid id or time") from e
        if action in _SANCTIONS:
            await _sanction(conn, action, user_id, until, data)
        else:
            await _on_post(conn, action, post_id, data)


async def _sanction(conn: asyncpg.Connection, action: str, user_id: uuid.UUID, until: datetime | None,
                    data: dict) -> None:
    refused = await _sanction_refused(conn, action, user_id, data)
    if refused is not None:
        log.warning("not applying action %s: %s", data.get("action_id"), refused)
        return
    if action == "unsuspend":
        # An admin lifted it: the account's tokens work again on the next refresh of every instance.
        await lift_suspension(conn, user_id)
        await conn.execute(q.UNSUSPEND_USER, user_id)
    elif action == "suspend":
        if until is None:
            raise EventError("suspend without until")
        # Revocation: every instance refuses the account's access tokens (common/suspensions.py), and
        # its refresh tokens die now, so no session outlives the suspension.
        await record_suspension(conn, user_id, until)
        await conn.execute(q.REVOKE_REFRESH_OF_USER, user_id)
        await conn.execute(q.SUSPEND_USER, user_id, until)
    else:
        await conn.execute(q.WARN_USER, user_id)


async def _sanction_refused(conn: asyncpg.Connection, action: str, user_id: uuid.UUID, data: dict) -> str | None:
    """Why forum will not apply this warn/suspend/unsuspend, or None (defence in depth, issue 24).

    Moderation refuses a moderator who warns or suspends staff or an admin, and lets only admins lift a
    suspension; forum, which knows every account's current role, refuses to apply such an action when
    the acting account (``moderator_id``) is not an admin here, so a bug or a forged event in
    moderation cannot lock staff out.
    """
    target = await conn.fetchval(q.USER_ROLE, user_id)
    if action != "unsuspend" and target not in STAFF_ROLES:
        return None
    try:
        actor = await conn.fetchval(q.USER_ROLE, uuid.UUID(data["moderator_id"])) if data.get("moderator_id") else None
    except (TypeError, ValueError):
        actor = None
    if actor == "admin":
        return None
    return f"{action} of a {target or 'unknown'} account by a {actor or 'unknown'} account"


async def _on_post(conn: asyncpg.Connection, action: str, post_id: uuid.UUID | None, data: dict) -> None:
    """A verdict on one post version (approve, dismiss, remove, redact) or the reports' hide."""
    version = data.get("post_version")
    if post_id is None or not isinstance(version, int):
        return  # escalate, outreach: nothing for forum to change
    if action == "redact":
        body = data.get("redacted_body")
        if not isinstance(body, str) or not body:
            raise EventError("redact without redacted_body")
        await conn.fetchval(q.REDACT_POST, post_id, body, version)
    elif action == "hide":
        # Reports count per post, so the hide holds whatever version the post is at now, and survives
        # edits and automated decisions until a moderator acts (issue 24).
        await conn.fetchval(q.HIDE_BY_REPORTS, post_id, json.dumps(_REPORTS_REASON))
    elif action in _POST_ACTIONS:
        status, allowed_from = _POST_ACTIONS[action]
        reasons = [] if status == "published" else [{"code": action, "reason": data.get("reason")}]
        changed = await conn.fetchval(q.SET_POST_STATUS, post_id, status, json.dumps(reasons), version, allowed_from)
        if changed is None:  # the status stays (e.g. pending), but a moderator has looked at the reports
            await conn.fetchval(q.LIFT_REPORT_HIDE, post_id, version)
