"""notifications' HTTP views: the in-app list, read state, preferences, rota, webhooks, live stream."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from aiohttp import web

from services.common.errors import ValidationError
from services.common.http.auth import authenticate
from services.common.http.body import read_json, uuid_param
from services.common.tokens import ROLES
from services.notifications.appkeys import BROADCASTER, CONFIG, STORE, WEBHOOKS
from services.notifications.stream import serve_stream


async def list_notifications(request: web.Request) -> web.Response:
    principal = authenticate(request)
    before = _int_param(request, "cursor")
    limit = _int_param(request, "limit")
    limit = 50 if limit is None else limit
    if not 1 <= limit <= 100:
        raise ValidationError("limit must be between 1 and 100", field="limit")
    items, next_cursor = await request.app[STORE].list_for(principal, before=before, limit=limit)
    return web.json_response({"items": items, "next_cursor": next_cursor})


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
    return web.json_response(await request.app[STORE].preferences(principal))


async def put_preferences(request: web.Request) -> web.Response:
    principal = authenticate(request)
    return web.json_response(await request.app[STORE].set_preferences(principal, await read_json(request)))


async def list_rota(request: web.Request) -> web.Response:
    authenticate(request, "admin", "crisis_staff")
    return web.json_response({"items": await request.app[STORE].rota()})


async def put_rota(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    body = await read_json(request)
    tier, on_rota = body.get("tier", 1), body.get("on_rota", True)
    if type(tier) is not int or tier not in (1, 2):
        raise ValidationError("tier must be 1 or 2", field="tier")
    if not isinstance(on_rota, bool):
        raise ValidationError("on_rota must be true or false", field="on_rota")
    return web.json_response(await request.app[STORE].set_rota(uuid_param(request, "user_id"), tier, on_rota))


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
    endpoint = await request.app[WEBHOOKS].create(url, role=role, user_id=user_id)
    return web.json_response(endpoint, status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    return web.json_response({"items": await request.app[WEBHOOKS].list()})


async def webhook_deliveries(request: web.Request) -> web.Response:
    authenticate(request, "admin")
    deliveries = await request.app[WEBHOOKS].deliveries(uuid_param(request, "webhook_id"))
    return web.json_response({"items": deliveries})


async def stream(request: web.Request) -> web.StreamResponse:
    principal = authenticate(request)
    return await serve_stream(request, principal, request.app[BROADCASTER], request.app[STORE],
                              request.app[CONFIG].heartbeat_seconds)


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):  # fits a bigint
        raise ValidationError(f"{name} must be a whole number", field=name)
    return int(raw)
