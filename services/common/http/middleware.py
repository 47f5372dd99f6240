"""Middlewares and response hooks: the one place domain errors become HTTP errors, trace ids, security headers.

As in aiohttp-demos moderator's ``exceptions.py``: views raise :class:`DomainError`, never build error
responses; every error leaves as ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import asyncpg
from aiohttp import web

from services.common.errors import (
    DomainError,
    InfrastructureError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    ValidationError,
)
from services.common.http.appkeys import METRICS
from services.common.http.body import MAX_REQUEST_BYTES
from services.common.logs import trace_id_var

log = logging.getLogger(__name__)


def error_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    return {"error": body}


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    """The one place where domain errors become HTTP errors."""
    try:
        _refuse_unstorable_url(request)
        return await handler(request)
    except RateLimited as e:
        return web.json_response(error_body(e), status=e.status, headers={"Retry-After": str(e.retry_after)})
    except DomainError as e:
        return web.json_response(error_body(e), status=e.status)
    except asyncpg.DataError as e:
        # A safety net: input PostgreSQL cannot hold (out of range, bad encoding) is the
        # client's mistake, not a 500. Views validate first; this says which one did not.
        log.warning("database refused input during %s %s (%s)", request.method, request.path, e.__class__.__name__)
        return web.json_response(error_body(ValidationError("a value in the request cannot be stored")), status=400)
    except InfrastructureError:
        log.warning("dependency unavailable during %s %s", request.method, request.path)
        e = ServiceUnavailable("a dependency is unavailable; try again shortly")
        return web.json_response(error_body(e), status=503, headers={"Retry-After": "2"})
    except web.HTTPRequestEntityTooLarge:
        e = PayloadTooLarge(f"request body over {MAX_REQUEST_BYTES} bytes")
        return web.json_response(error_body(e), status=413)
    except web.HTTPException as e:
        if e.status >= 400:
            # A 405 names the methods the resource has (RFC 9110 section 15.5.6 requires ``Allow``).
            allow = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
            return web.json_response({"error": {"code": e.reason.lower().replace(" ", "_"), "message": e.reason}},
                                     status=e.status, headers=allow)
        raise
    except Exception:
        log.exception("unhandled error during %s %s", request.method, request.path)
        return web.json_response({"error": {"code": "internal", "message": "internal error"}}, status=500)


@web.middleware
async def trace_middleware(request: web.Request, handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Trace-Id", "")
    trace_id = incoming if _is_uuid(incoming) else str(uuid.uuid4())
    trace_id_var.set(trace_id)
    started = time.perf_counter()
    response = await handler(request)
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    metrics = request.app[METRICS]
    metrics.requests.labels(route, str(response.status)).inc()
    metrics.latency.labels(route).observe(time.perf_counter() - started)
    response.headers["X-Trace-Id"] = trace_id
    return response


async def security_headers_on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """``nosniff`` everywhere, and ``no-store`` on every /v1 response and every authenticated one.

    A hook, not a middleware, so streamed responses (the SSE stream) get them too. /v1 carries
    personal data or tokens (login, register and refresh answer with tokens and carry no
    Authorization header): no cache, shared or private, may keep any of it.
    """
    response.headers["X-Content-Type-Options"] = "nosniff"
    if "Authorization" in request.headers or request.path.startswith("/v1/"):
        response.headers["Cache-Control"] = "no-store"


def _refuse_unstorable_url(request: web.Request) -> None:
    """NUL characters cannot reach PostgreSQL text: a path holding one names nothing, a query is refused."""
    if "\x00" in request.path:
        raise NotFound("no such resource")
    if any("\x00" in key or "\x00" in value for key, value in request.query.items()):
        raise ValidationError("query parameters must not contain NUL characters")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False

