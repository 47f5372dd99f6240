"""Who gets a notification on which channel, and when: planned in the same
transaction that stores the notification, one delivery row per channel and target.

* in-app and live push need no delivery row: the stored notification is the
  in-app list, and its stream position is what the SSE stream sends;
* webhooks: every enabled endpoint of the recipient user or role;
* e-mail: the addresses people gave in their preferences, for the categories
  they want. Crisis staff on the rota are always paged for crisis categories
  (tier 1 from the first page, tier 2 from the second missed one).
Members' quiet hours and daily digest defer e-mail; moderators' queue
notifications are batched, so a burst of fifty holds sends one page.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from services.notifications import queries as q
from services.notifications.rules import Planned

# Categories e-mailed by default once someone gives an address (they can switch any off).
DEFAULT_EMAIL_CATEGORIES = ("crisis", "support", "account", "post", "queue")


@dataclass(frozen=True)
class DeliverySettings:
    email_enabled: bool = False
    queue_batch_seconds: float = 30.0
    digest_hour_utc: int = 8
    webhook_max_attempts: int = 8
    webhook_disable_after: int = 5
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    lease_seconds: float = 30.0
    timeout_seconds: float = 10.0
    # Hosts a webhook may target even on an internal address (webhook_targets.py); empty: public only.
    webhook_allowed_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Target:
    channel: str
    address: str
    not_before: datetime
    batch_key: str | None = None


def wants_email(channels: dict[str, Any], category: str) -> bool:
    chosen = channels.get(category)
    if chosen is None:
        return category in DEFAULT_EMAIL_CATEGORIES
    return "email" in chosen


def email_schedule(prefs: asyncpg.Record | dict, category: str, role: str, now: datetime,
                   settings: DeliverySettings) -> tuple[datetime, str | None]:
    """When a member's e-mail may go out: after quiet hours, or with their daily digest."""
    if role != "member" or category in ("crisis", "support"):
        return now, None  # staff paging and support messages are never held back
    if prefs["digest"]:
        return next_hour(now, settings.digest_hour_utc), f"digest:{prefs['email']}"
    start, end = prefs["quiet_start"], prefs["quiet_end"]
    if start is not None and end is not None and in_quiet_hours(now.hour, start, end):
        return next_hour(now, end), None
    return now, None


def in_quiet_hours(hour: int, start: int, end: int) -> bool:
    return start <= hour < end if start <= end else hour >= start or hour < end


def next_hour(now: datetime, hour: int) -> datetime:
    candidate = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)


async def targets_for(conn: asyncpg.Connection, item: Planned, settings: DeliverySettings,
                      now: datetime) -> list[Target]:
    user = uuid.UUID(item.recipient.user_id) if item.recipient.user_id else None
    role = item.recipient.role
    category = item.category
    prefs = await conn.fetchrow(q.GET_PREFERENCES, user) if user is not None else None
    own_channels = json.loads(prefs["channels"]) if prefs is not None else {}
    found = [Target("webhook", str(row["id"]), now) for row in await conn.fetch(q.ENDPOINTS_FOR, user, role)
             # a member's own endpoint follows their choices; role endpoints (pagers) get everything
             if row["owner_user"] is None or "webhook" in own_channels.get(category, ["webhook"])]
    if not settings.email_enabled:
        return _batched(found, category, now, settings)
    if user is not None:
        if prefs is not None and prefs["email"] and wants_email(json.loads(prefs["channels"]), category):
            when, key = email_schedule(prefs, category, prefs["role"], now, settings)
            found.append(Target("email", prefs["email"], when, key))
    if role is not None:
        for row in await conn.fetch(q.ROLE_EMAIL_RECIPIENTS, role):
            if category == "crisis" and row["on_rota"] and item.data.get("paged", True):
                if item.tier >= row["tier"]:  # on the rota: always paged; tier 2 from the second miss
                    found.append(Target("email", row["email"], now))
            elif wants_email(json.loads(row["channels"]), category):
                found.append(Target("email", row["email"], now))
    return _batched(found, category, now, settings)


def _batched(targets: list[Target], category: str, now: datetime, settings: DeliverySettings) -> list[Target]:
    if category != "queue":
        return targets
    later = now + timedelta(seconds=settings.queue_batch_seconds)
    return [Target(t.channel, t.address, max(t.not_before, later), t.batch_key or f"queue:{t.channel}:{t.address}")
            for t in targets]


async def plan_deliveries(conn: asyncpg.Connection, notification_id: uuid.UUID, item: Planned,
                          settings: DeliverySettings, now: datetime | None = None) -> int:
    """Create (or join a batch of) one delivery per channel and target; returns how many were added."""
    now = now or datetime.now(timezone.utc)
    added = 0
    for target in await targets_for(conn, item, settings, now):
        delivery_id = None
        if target.batch_key:
            delivery_id = await conn.fetchval(q.OPEN_BATCH, target.batch_key)
        if delivery_id is None:
            delivery_id = uuid.uuid4()
            await conn.execute(q.INSERT_DELIVERY, delivery_id, target.channel, target.address, target.batch_key,
                               target.not_before)
        if await conn.fetchval(q.INSERT_DELIVERY_ITEM, notification_id, target.channel, target.address,
                               delivery_id) is not None:
            added += 1
    if added:
        await conn.execute(q.NOTIFY, q.DELIVERIES_CHANNEL, "")
    return added
