"""moderation's HTTP views. Authorisation first, then the store."""

from aiohttp import web

from services.common.http import authenticate
from services.moderation.appkeys import STORE


async def list_queue(request: web.Request) -> web.Response:
    authenticate(request, "moderator", "admin")
    items = await request.app[STORE].queue(request.query.get("status", "open"))
    return web.json_response({"items": items, "next_cursor": None})


async def list_escalations(request: web.Request) -> web.Response:
    authenticate(request, "crisis_staff", "admin")
    items = await request.app[STORE].escalations(request.query.get("status", "open"))
    return web.json_response({"items": items})
