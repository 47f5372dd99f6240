"""Notifications' storage: store first (consumer, in the inbox transaction), then the API reads.

Stream positions. ``notifications.seq`` is the SSE event id. Sequence values are
taken at INSERT, not at COMMIT, so two concurrent inserts could become visible
out of order and a client resuming from the higher one would never see the
lower. Inserts therefore take a transaction-scoped advisory lock (as
eventsourcing locks its table): positions commit in order, and "everything
after Last-Event-ID" is exactly what a reconnecting client missed.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.common.db import connection, transaction
from services.common.envelope import Event
from services.common.errors import Conflict, NotFound, ValidationError
from services.common.suspensions import lift_suspension, record_suspension
from services.common.tokens import Principal
from services.notifications import queries as q
from services.notifications.addresses import InvalidAddress, email_address
from services.notifications.channels import DeliverySettings, plan_deliveries
from services.notifications.rules import CATEGORIES, CrisisResources, Planned, plan
from services.notifications.webhook_targets import TargetRefused, WebhookTargets


async def store_notification(conn: asyncpg.Connection, item: Planned, source_event_id: uuid.UUID,
                             settings: DeliverySettings) -> int | None:
    """Store one notification and plan its deliveries; returns its stream position (None if a repeat)."""
    await conn.execute(q.LOCK_STREAM)
    row = await conn.fetchrow(
        q.INSERT_NOTIFICATION, uuid.uuid4(),
        uuid.UUID(item.recipient.user_id) if item.recipient.user_id else None,
        item.recipient.role, item.type, item.category, item.tier, json.dumps(item.data), source_event_id,
    )
    if row is None:
        return None
    await plan_deliveries(conn, row["id"], item, settings)
    await conn.execute(q.NOTIFY_STREAM, json.dumps({"seq": row["seq"], "user": item.recipient.user_id,
                                                    "role": item.recipient.role}))
    return row["seq"]


class NotificationHandler:
    """Consumer handler: every event becomes its planned notifications, stored once."""

    def __init__(self, resources: CrisisResources, settings: DeliverySettings) -> None:
        self._resources = resources
        self._settings = settings

    async def prepare(self, events: list[Event]) -> None:
        return None

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        if event.type == "action.taken" and event.data.get("action") == "suspend" and event.data.get("until"):
            # Revocation: this service refuses the account's tokens from now on (common/suspensions.py).
            try:
                user_id, until = uuid.UUID(event.data["user_id"]), datetime.fromisoformat(event.data["until"])
            except (ValueError, TypeError, KeyError):
                user_id = until = None  # forum refuses it too; the notification is still planned
            if user_id is not None and until is not None:
                await record_suspension(conn, user_id, until)
        elif event.type == "action.taken" and event.data.get("action") == "unsuspend":
            # An admin lifted it (issue 24): this service accepts the account's tokens again. Events about
            # one account share a partition (key: user id), so a later suspension still comes after this.
            try:
                await lift_suspension(conn, uuid.UUID(event.data["user_id"]))
            except (ValueError, TypeError, KeyError):
                pass  # an unusable id: nothing to lift
        for item in plan(event, self._resources):
            await store_notification(conn, item, uuid.UUID(event.id), self._settings)


def shape(row: asyncpg.Record) -> dict[str, Any]:
    out = {"id": str(row["id"]), "seq": row["seq"], "type": row["type"], "category": row["category"],
           "data": json.loads(row["data"]), "created_at": row["created_at"].isoformat()}
    if "read" in row.keys():
        out["read"] = row["read"]
    return out


class NotificationStore:
    BACKLOG_PAGE = 500

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_for(self, principal: Principal, *, before: int | None = None,
                       limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.LIST_FOR, uuid.UUID(principal.user_id), principal.role, before, limit + 1)
        items = [shape(r) for r in rows[:limit]]
        return items, (str(rows[limit - 1]["seq"]) if len(rows) > limit else None)

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

    async def backlog(self, principal: Principal, after: int) -> list[dict[str, Any]]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.STREAM_BACKLOG, uuid.UUID(principal.user_id), principal.role, after,
                                    self.BACKLOG_PAGE)
        return [shape(r) for r in rows]

    async def latest_seq(self) -> int:
        async with connection(self._pool) as conn:
            return await conn.fetchval(q.LATEST_SEQ)

    async def by_seq(self, seq: int) -> dict[str, Any] | None:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow(q.BY_SEQ, seq)
        return shape(row) if row else None

    # --- preferences and rota ----------------------------------------------------------

    async def preferences(self, principal: Principal) -> dict[str, Any]:
        async with connection(self._pool) as conn:
            row = await conn.fetchrow(q.GET_PREFERENCES, uuid.UUID(principal.user_id))
            rota = await conn.fetchrow(q.ROTA_ENTRY, uuid.UUID(principal.user_id))
        return _preferences(row, rota)

    async def set_preferences(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        email, channels, quiet, digest = _parse_preferences(body)
        async with transaction(self._pool) as conn:
            user = uuid.UUID(principal.user_id)
            rota = await conn.fetchrow(q.ROTA_ENTRY, user)
            if rota is not None and rota["on_rota"] and (not email or "email" not in channels.get("crisis", ["email"])):
                raise Conflict("crisis paging stays on while you are on the rota", field="channels")
            await conn.execute(q.UPSERT_PREFERENCES, user, principal.role, email, json.dumps(channels), quiet[0],
                               quiet[1], digest)
            row = await conn.fetchrow(q.GET_PREFERENCES, user)
        return _preferences(row, rota)

    async def set_rota(self, user_id: str, tier: int, on_rota: bool) -> dict[str, Any]:
        async with transaction(self._pool) as conn:
            await conn.execute(q.UPSERT_ROTA, uuid.UUID(user_id), tier, on_rota)
            row = await conn.fetchrow(q.ROTA_ENTRY, uuid.UUID(user_id))
        return {"user_id": user_id, "tier": row["tier"], "on_rota": row["on_rota"]}

    async def rota(self) -> list[dict[str, Any]]:
        async with connection(self._pool) as conn:
            rows = await conn.fetch(q.LIST_ROTA)
        return [{"user_id": str(r["user_id"]), "tier": r["tier"], "on_rota": r["on_rota"]} for r in rows]


class WebhookRegistry:
    """Admin-managed webhook endpoints, per role (e.g. the crisis team's pager) or per user."""

    def __init__(self, pool: asyncpg.Pool, targets: WebhookTargets | None = None) -> None:
        self._pool = pool
        self._targets = targets or WebhookTargets()

    async def create(self, url: str, *, role: str | None, user_id: str | None) -> dict[str, Any]:
        """Register an endpoint whose URL reaches only public addresses (or an allow-listed host): no SSRF."""
        try:
            await self._targets.vet(url)
        except TargetRefused as e:
            raise ValidationError(f"url {e}; webhooks go to public addresses only (or to a host in "
                                  "WEBHOOK_ALLOWED_HOSTS)", field="url") from None
        secret = secrets.token_urlsafe(32)
        async with transaction(self._pool) as conn:
            row = await conn.fetchrow(q.INSERT_ENDPOINT, uuid.uuid4(), uuid.UUID(user_id) if user_id else None, role,
                                      url, secret)
        return {**_endpoint(row), "secret": secret}  # the secret is shown once, here

    async def list(self) -> list[dict[str, Any]]:
        async with connection(self._pool) as conn:
            return [_endpoint(r) for r in await conn.fetch(q.LIST_ENDPOINTS)]

    async def deliveries(self, endpoint_id: str, limit: int = 100) -> list[dict[str, Any]]:
        async with connection(self._pool) as conn:
            if await conn.fetchrow(q.ENDPOINT_BY_ID, uuid.UUID(endpoint_id)) is None:
                raise NotFound("no such webhook")
            rows = await conn.fetch(q.DELIVERY_LOG, endpoint_id, limit)
        return [{"id": str(r["id"]), "status": r["status"], "attempts": r["attempts"],
                 "created_at": r["created_at"].isoformat(), "sent_at": r["sent_at"].isoformat() if r["sent_at"] else None,
                 "last_error": r["last_error"], "attempt_log": json.loads(r["attempt_log"])} for r in rows]


def _endpoint(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "url": row["url"], "role": row["owner_role"],
            "user_id": str(row["owner_user"]) if row["owner_user"] else None, "enabled": row["enabled"],
            "consecutive_failures": row["consecutive_failures"], "created_at": row["created_at"].isoformat()}


def _preferences(row: asyncpg.Record | None, rota: asyncpg.Record | None) -> dict[str, Any]:
    on_rota = bool(rota and rota["on_rota"])
    if row is None:
        return {"email": None, "channels": {}, "quiet_hours": None, "digest": False, "on_rota": on_rota}
    quiet = None if row["quiet_start"] is None else {"start": row["quiet_start"], "end": row["quiet_end"]}
    return {"email": row["email"], "channels": json.loads(row["channels"]), "quiet_hours": quiet,
            "digest": row["digest"], "on_rota": on_rota}


def _parse_preferences(body: dict[str, Any]) -> tuple[str | None, dict[str, list[str]], tuple, bool]:
    email = body.get("email")
    if email is not None:
        if not isinstance(email, str):
            raise ValidationError("email must be an address", field="email")
        try:
            email = email_address(email)
        except InvalidAddress as e:
            raise ValidationError(f"email must be an address: {e}", field="email") from None
    channels = body.get("channels", {})
    if not isinstance(channels, dict):
        raise ValidationError("channels maps categories to lists of channels", field="channels")
    for category, chosen in channels.items():
        if category not in CATEGORIES:
            raise ValidationError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}", field="channels")
        if not isinstance(chosen, list) or any(c not in ("email", "webhook") for c in chosen):
            raise ValidationError("channels are lists of 'email' / 'webhook'", field="channels")
    quiet = body.get("quiet_hours")
    if quiet is None:
        bounds: tuple = (None, None)
    elif (isinstance(quiet, dict) and all(isinstance(quiet.get(k), int) and not isinstance(quiet.get(k), bool)
                                          and 0 <= quiet[k] <= 23 for k in ("start", "end"))):
        bounds = (quiet["start"], quiet["end"])
    else:
        raise ValidationError("quiet_hours is {start, end} in whole UTC hours 0-23", field="quiet_hours")
    digest = body.get("digest", False)
    if not isinstance(digest, bool):
        raise ValidationError("digest must be true or false", field="digest")
    return email, channels, bounds, digest
