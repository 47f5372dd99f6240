"""CORS for the web client's origins (``CORS_ALLOWED_ORIGINS``): the preflight, and headers on every response."""

from __future__ import annotations

from aiohttp import web

from services.common.http.appkeys import CORS_ORIGINS

CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Last-Event-ID, X-Trace-Id"
CORS_EXPOSE_HEADERS = "X-Trace-Id, Retry-After"
CORS_MAX_AGE = "600"

@web.middleware
async def cors_preflight_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Answers CORS preflights (``OPTIONS`` with ``Access-Control-Request-Method``) before routing.

    An allowed origin gets 204 with the methods and headers the web client uses; any other
    origin gets a 204 without CORS headers, which the browser treats as a refusal. With no
    allow-list configured, nothing here applies.
    """
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers and request.app[CORS_ORIGINS]:
        response = web.Response(status=204, headers={"Vary": "Origin"})
        if _allowed_origin(request):
            response.headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
        return response
    return await handler(request)


async def cors_on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """CORS headers on every response to an allowed origin, streamed ones too (the SSE stream's
    headers go out before its handler returns, so a middleware could not add them)."""
    if not request.app[CORS_ORIGINS]:
        return
    if "Origin" not in response.headers.get("Vary", ""):
        response.headers.add("Vary", "Origin")
    origin = _allowed_origin(request)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin", "")
    return origin if origin and origin.lower() in request.app[CORS_ORIGINS] else None


