"""What notifications does with what it consumes: one handler per consumed topic, one method per event type.

Consumer group ``notifications-events`` runs ``Dispatch`` over the five handlers below (main.py). Each
``on_*`` method asks the pure planner, :func:`rules.plan`, who is told what, and stores every planned
notification once, with its deliveries (store.store_notification), inside the consumer's inbox
transaction: a redelivered event notifies nobody twice, and the live streams hear of the new rows
(NOTIFY) when that transaction commits.

``moderation.decisions`` ⇒ :class:`DecisionsHandler`   ``moderation.escalations`` ⇒ :class:`EscalationsHandler`
``moderation.actions``   ⇒ :class:`ActionsHandler`     ``forum.activity``         ⇒ :class:`ActivityHandler`
``forum.reports``        ⇒ :class:`ReportsHandler`

Every instance also reads ``forum.accounts`` (services/common/sessions.py), with
:func:`follow_role_change` as its hook.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.common.domain import CRISIS_ROLE
from services.common.envelope import Event
from services.common.handlers import TopicHandler
from services.common.suspensions import lift_suspension, record_suspension
from services.notifications import queries as q
from services.notifications.channels import DeliverySettings
from services.notifications.rules import CrisisResources, plan
from services.notifications.store import store_notification


class _Notifies(TopicHandler):
    """A topic whose events become notifications: what :func:`rules.plan` makes of each, stored once."""

    def __init__(self, resources: CrisisResources, settings: DeliverySettings) -> None:
        self._resources = resources
        self._settings = settings

    async def notify(self, conn: asyncpg.Connection, event: Event) -> None:
        for item in plan(event, self._resources):
            await store_notification(conn, item, uuid.UUID(event.id), self._settings)


class DecisionsHandler(_Notifies):
    """``moderation.decisions``: the machine's verdict on a post version."""

    async def on_decision_made(self, conn: asyncpg.Connection, event: Event) -> None:
        """Held or removed: the author is told why (public reasons only); held: the moderators' queue too."""
        await self.notify(conn, event)


class EscalationsHandler(_Notifies):
    """``moderation.escalations``: the crisis path. ``escalation.resolved`` notifies nobody."""

    async def on_escalation_opened(self, conn: asyncpg.Connection, event: Event) -> None:
        """Crisis staff are paged (high, imminent) or told (watch); the author gets supportive resources."""
        await self.notify(conn, event)

    async def on_escalation_upgraded(self, conn: asyncpg.Connection, event: Event) -> None:
        """As opened, at the new level (with the previous one for staff)."""
        await self.notify(conn, event)

    async def on_escalation_repaged(self, conn: asyncpg.Connection, event: Event) -> None:
        """Still unacknowledged: crisis staff are paged again (tier 2 from the second miss)."""
        await self.notify(conn, event)

    async def on_escalation_acknowledged(self, conn: asyncpg.Connection, event: Event) -> None:
        """Crisis staff learn that someone took it."""
        await self.notify(conn, event)


class ActionsHandler(_Notifies):
    """``moderation.actions``: a moderator's (or the system's) action on a post or an account."""

    async def on_action_taken(self, conn: asyncpg.Connection, event: Event) -> None:
        """A suspension (or its lifting) takes effect on this service's tokens; then the author, the
        reporters or the moderators are told (rules.plan_action)."""
        data = event.data
        if data.get("action") == "suspend" and data.get("until"):
            # Revocation: this service refuses the account's tokens from now on (common/suspensions.py).
            try:
                user_id, until = uuid.UUID(data["user_id"]), datetime.fromisoformat(data["until"])
            except (ValueError, TypeError, KeyError):
                user_id = until = None  # forum refuses it too; the notification is still planned
            if user_id is not None and until is not None:
                await record_suspension(conn, user_id, until)
        elif data.get("action") == "unsuspend":
            # An admin lifted it (issue 24): this service accepts the account's tokens again. Events about
            # one account share a partition (key: user id), so a later suspension still comes after this.
            try:
                await lift_suspension(conn, uuid.UUID(data["user_id"]))
            except (ValueError, TypeError, KeyError):
                pass  # an unusable id: nothing to lift
        await self.notify(conn, event)


class ActivityHandler(_Notifies):
    """``forum.activity``: what members do around someone's posts."""

    async def on_reply_published(self, conn: asyncpg.Connection, event: Event) -> None:
        """The thread's author hears of a reply."""
        await self.notify(conn, event)

    async def on_reaction_added(self, conn: asyncpg.Connection, event: Event) -> None:
        """The post's author hears of the support sent."""
        await self.notify(conn, event)


class ReportsHandler(_Notifies):
    """``forum.reports``: ``report.created`` notifies nobody (reporters hear when a moderator acts)."""

    async def on_appeal_created(self, conn: asyncpg.Connection, event: Event) -> None:
        """The moderators' queue hears of an appeal."""
        await self.notify(conn, event)


async def follow_role_change(conn: asyncpg.Connection, event: Event) -> None:
    """``role.changed`` on ``forum.accounts``: paging follows the account's role.

    The preferences carry the new role (role-addressed notifications and e-mail follow it), and anyone who
    is no longer crisis staff leaves the crisis rota, so a demoted crisis worker is neither paged nor listed.
    """
    user_id, role = uuid.UUID(event.data["user_id"]), event.data["role"]
    await conn.execute(q.SET_PREFERENCES_ROLE, user_id, role)
    if role != CRISIS_ROLE:
        await conn.execute(q.LEAVE_ROTA, user_id)
