"""notifications' HTTP views: the in-app list, read state, preferences, rota, webhooks, live stream.

Each view checks the request, calls the store (store.py, webhooks.py) and shapes its records as JSON;
domain errors raised here or there become JSON errors in ``services.common.http.middleware``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from services.common.domain import CRISIS_STAFF, ROLES
from services.common.errors import ValidationError
from services.common.http.auth import authenticate
from services.common.http.body import read_json, uuid_param
from services.notifications.addresses import InvalidAddress, email_address
from services.notifications.appkeys import BROADCASTER, CONFIG, STORE, WEBHOOKS
from services.notifications.rules import CATEGORIES
from services.notifications.store import PreferenceChoice, Preferences
from services.notifications.stream import serve_stream


async def list_notifications(request: web.Request) -> web.Response:
    principal = authenticate(request)
    before = _int_param(request, "cursor")
    limit = _int_param(request, "limit")
    limit = 50 if limit is None else limit
    if not 1 <= limit <= 100:
        raise ValidationError("limit must be between 1 and 100", field="limit")
    rows, next_cursor = await request.app[STORE].list_for(principal, before=before, limit=limit)
    return web.json_response({"items": [notification_json(r) for r in rows],
                              "next_cursor": None if next_cursor is None else str(next_cursor)})


async def unread_count(request: web.Request) -> web.Response:
    principal = authenticate(request)
    return web.json_response({"unread": await request.app[STORE].unread_count(principal)})


async def mark_read(request: web.Request) -> web.Response:
    principal = authenticate(request)
    await request.app[STORE].mark_read(principal, uuid_param(request, "notification_id"))
    return web.json_response({"unread": await request.app[STORE].unread_count(principal)})


async def mark_all_read(request: web.Request) -> web.Response:
    principal = authenticate(request)
    await request.app[STORE].mark_all_read(principal)
    return web.json_response({"unread": await request.app[STORE].unread_count(principal)})


async def get_preferences(request: web.Request) -> web.Response:
    principal = authenticate(request)
    return web.json_response(_preferences_json(await request.app[STORE].preferences(principal)))


async def put_preferences(request: web.Request) -> web.Response:
    principal = authenticate(request)
    choice = _preference_choice(await read_json(request))
    return web.json_response(_preferences_json(await request.app[STORE].set_preferences(principal, choice)))


async def list_rota(request: web.Request) -> web.Response:
    authenticate(request, *CRISIS_STAFF)
    rows = await request.app[STORE].rota()
    return web.json_response({"items": [_rota_json(str(r["user_id"]), r) for r in rows]})


async def put_rota(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    body = await read_json(request)
    tier, on_rota = body.get("tier", 1), body.get("on_rota", True)
    if type(tier) is not int or tier not in (1, 2):
        raise ValidationError("tier must be 1 or 2", field="tier")
    if not isinstance(on_rota, bool):
        raise ValidationError("on_rota must be true or false", field="on_rota")
    user_id = uuid_param(request, "user_id")
    return web.json_response(_rota_json(user_id, await request.app[STORE].set_rota(user_id, tier, on_rota)))


async def create_webhook(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    body = await read_json(request)
    url = body.get("url")
    try:
        parts = urlsplit(url) if isinstance(url, str) and len(url) <= 2000 else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("url must be an http(s) URL", field="url")
    role, user_id = body.get("role"), body.get("user_id")
    if (role is None) == (user_id is None):
        raise ValidationError("give exactly one of role or user_id", field="role")
    if role is not None and role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")
    if user_id is not None:
        try:
            user_id = str(uuid.UUID(str(user_id)))
        except ValueError as e:
            raise ValidationError("user_id must be a UUID", field="user_id") from e
    row, secret = await request.app[WEBHOOKS].create(url, role=role, user_id=user_id)
    return web.json_response({**_endpoint_json(row), "secret": secret}, status=201)  # the secret is shown once


async def list_webhooks(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    return web.json_response({"items": [_endpoint_json(r) for r in await request.app[WEBHOOKS].list()]})


async def webhook_deliveries(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    rows = await request.app[WEBHOOKS].deliveries(uuid_param(request, "webhook_id"))
    return web.json_response({"items": [_delivery_json(r) for r in rows]})


async def stream(request: web.Request) -> web.StreamResponse:
    principal = authenticate(request)
    return await serve_stream(request, principal, request.app[BROADCASTER], request.app[STORE],
                              request.app[CONFIG].heartbeat_seconds, notification_json)


# --- request parsing -----------------------------------------------------------------------


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):  # fits a bigint
        raise ValidationError(f"{name} must be a whole number", field=name)
    return int(raw)


def _preference_choice(body: dict[str, Any]) -> PreferenceChoice:
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
    return PreferenceChoice(email, channels, bounds[0], bounds[1], digest)


# --- JSON shapes ---------------------------------------------------------------------------


def notification_json(row: asyncpg.Record) -> dict[str, Any]:
    """A notification as the list and the live stream show it (``read`` only where the query has it)."""
    out = {"id": str(row["id"]), "seq": row["seq"], "type": row["type"], "category": row["category"],
           "data": json.loads(row["data"]), "created_at": row["created_at"].isoformat()}
    if "read" in row.keys():
        out["read"] = row["read"]
    return out


def _preferences_json(prefs: Preferences) -> dict[str, Any]:
    row = prefs.row
    if row is None:
        return {"email": None, "channels": {}, "quiet_hours": None, "digest": False, "on_rota": prefs.on_rota}
    quiet = None if row["quiet_start"] is None else {"start": row["quiet_start"], "end": row["quiet_end"]}
    return {"email": row["email"], "channels": json.loads(row["channels"]), "quiet_hours": quiet,
            "digest": row["digest"], "on_rota": prefs.on_rota}


def _rota_json(user_id: str, row: asyncpg.Record) -> dict[str, Any]:
    return {"user_id": user_id, "tier": row["tier"], "on_rota": row["on_rota"]}


def _endpoint_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "url": row["url"], "role": row["owner_role"],
            "user_id": str(row["owner_user"]) if row["owner_user"] else None, "enabled": row["enabled"],
            "consecutive_failures": row["consecutive_failures"], "created_at": row["created_at"].isoformat()}


def _delivery_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "status": row["status"], "attempts": row["attempts"],
            "created_at": row["created_at"].isoformat(),
            "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
            "last_error": row["last_error"], "attempt_log": json.loads(row["attempt_log"])}
