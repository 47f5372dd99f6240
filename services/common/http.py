"""HTTP plumbing shared by the three services.

* one JSON error shape, ``{"error": {"code", "message", "field"}}``, produced
  by :func:`error_middleware` from :class:`DomainError` (aiohttp-demos
  moderator's ``exceptions.py`` idea): views raise, never build error responses;
* trace ids in and out (``X-Trace-Id``) for the JSON logs;
* request parsing helpers that turn bad input into 4xx naming the field;
* ``/healthz``, ``/readyz``, ``/metrics`` and ``/openapi.yaml``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from services.common.errors import (
    AccountSuspended,
    DomainError,
    Forbidden,
    InfrastructureError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    TooLong,
    Unauthorized,
    ValidationError,
)
from services.common.logs import trace_id_var
from services.common.sessions import Sessions
from services.common.suspensions import Suspensions
from services.common.tokens import Principal, TokenVerifier

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024

ReadinessCheck = Callable[[], Awaitable[bool]]


@dataclass
class HttpMetrics:
    """Prometheus registry of one app instance (no process-global registry)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "haven_http_requests", "HTTP requests by route and status", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram("haven_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry)


METRICS = web.AppKey("metrics", HttpMetrics)
VERIFIER = web.AppKey("token_verifier", TokenVerifier)
SUSPENSIONS = web.AppKey("suspensions", Suspensions)
SESSIONS = web.AppKey("sessions", Sessions)
READINESS = web.AppKey("readiness_checks", dict)
# Liveness: checks whose failure a restart cures (a dead background task), unlike readiness's dependencies.
LIVENESS = web.AppKey("liveness_checks", dict)
OPENAPI_PATH = web.AppKey("openapi_path", Path)
CORS_ORIGINS = web.AppKey("cors_allowed_origins", frozenset)

CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Last-Event-ID, X-Trace-Id"
CORS_EXPOSE_HEADERS = "X-Trace-Id, Retry-After"
CORS_MAX_AGE = "600"


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
            return web.json_response({"error": {"code": e.reason.lower().replace(" ", "_"), "message": e.reason}},
                                     status=e.status)
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


def _refuse_unstorable_url(request: web.Request) -> None:
    """NUL characters cannot reach PostgreSQL text: a path holding one names nothing, a query is refused."""
    if "\x00" in request.path:
        raise NotFound("no such resource")
    if any("\x00" in key or "\x00" in value for key, value in request.query.items()):
        raise ValidationError("query parameters must not contain NUL characters")


def _refuse_unstorable_text(body: Any) -> None:
    """Every string in a JSON body must be storable text: no NUL, no lone surrogate (``"\\ud800"``)."""
    # (value, the top-level field it sits in): the error names the field, as text_field's do.
    pending: list[tuple[Any, str | None]] = [(body, None)]
    while pending:
        value, name = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                where = name if name is not None else key
                pending += [(key, where), (item, where)]
        elif isinstance(value, list):
            pending.extend((item, name) for item in value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise ValidationError(f"{name or 'text'} must not contain NUL bytes", field=name)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ValidationError(f"{name or 'text'} must be valid Unicode (no lone surrogates)",
                                      field=name) from e


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


def new_app(*, service: str, openapi: Path, verifier: TokenVerifier,
            cors_origins: tuple[str, ...] = ()) -> web.Application:
    """An aiohttp app with Haven's middlewares, limits and operational routes.

    ``cors_origins`` is the exact allow-list of web origins (``CORS_ALLOWED_ORIGINS``); empty: no CORS.
    """
    app = web.Application(middlewares=[cors_preflight_middleware, trace_middleware, error_middleware],
                          client_max_size=MAX_REQUEST_BYTES)
    app[CORS_ORIGINS] = frozenset(o.lower() for o in cors_origins)
    app.on_response_prepare.append(cors_on_prepare)
    app.on_response_prepare.append(security_headers_on_prepare)
    app[METRICS] = HttpMetrics()
    app[VERIFIER] = verifier
    app[SUSPENSIONS] = Suspensions()
    app[SESSIONS] = Sessions()
    app[READINESS] = {}
    app[LIVENESS] = {}
    app[OPENAPI_PATH] = openapi
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/openapi.yaml", openapi_view)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 503 when a background task (relay, consumer, delivery worker...) has died.

    A dead task never comes back by itself and the process still serves HTTP, so only a
    restart helps; a dependency that is down (PostgreSQL, Kafka) is ``/readyz``'s business.
    """
    results = {name: await check() for name, check in request.app[LIVENESS].items()}
    if all(results.values()):
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "failing", "checks": results}, status=503)


async def readyz(request: web.Request) -> web.Response:
    results = {name: await check() for name, check in request.app[READINESS].items()}
    ready = all(results.values())
    return web.json_response({"ready": ready, "checks": results}, status=200 if ready else 503)


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_view(request: web.Request) -> web.Response:
    return web.Response(text=request.app[OPENAPI_PATH].read_text(encoding="utf-8"), content_type="application/yaml")


# --- request helpers -------------------------------------------------------


READ_METHODS = frozenset({"GET", "HEAD"})


def authenticate(request: web.Request, *roles: str, allow_suspended: bool = False) -> Principal:
    """The verified caller; with ``roles``, one of them is required (403 otherwise).

    A token whose session has ended (logout, sign-out everywhere, a reused refresh token) or whose
    role is no longer the account's is a 401 (services/common/sessions.py). A suspended account is
    read-only: it may read (GET) what needs no role, and end its own sessions
    (``allow_suspended``); anything else is a 403 until the suspension ends. Memory lookups only.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    principal = request.app[VERIFIER].verify(token.strip())
    ended = request.app[SESSIONS].refuses(principal)
    if ended is not None:
        raise Unauthorized(ended)
    # Revocation on suspension: the token is valid, the account may only read (services/common/suspensions.py).
    suspended_until = request.app[SUSPENSIONS].until(principal.user_id)
    if suspended_until is not None and not allow_suspended and (roles or request.method not in READ_METHODS):
        raise AccountSuspended(suspended_until)
    if roles and principal.role not in roles:
        raise Forbidden("your role cannot do this")
    return principal


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx naming what is wrong."""
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"request body over {MAX_REQUEST_BYTES} bytes")
    raw = await request.read()
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValidationError("body is not valid JSON") from e
    except RecursionError as e:
        raise ValidationError("body is nested too deeply") from e
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object")
    _refuse_unstorable_text(body)
    return body


def text_field(
    body: dict[str, Any], name: str, *, max_length: int, min_length: int = 1, required: bool = True
) -> str | None:
    """A string field, trimmed, without NUL bytes or control characters, within length bounds."""
    value = body.get(name)
    if value is None:
        if required:
            raise ValidationError(f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    if "\x00" in value:
        raise ValidationError(f"{name} must not contain NUL bytes", field=name)
    value = value.strip()
    if len(value) < min_length:
        raise ValidationError(f"{name} must be at least {min_length} characters", field=name)
    if len(value) > max_length:
        raise TooLong(f"{name} must be at most {max_length} characters", field=name)
    return value


def uuid_param(request: web.Request, name: str) -> str:
    """A UUID path parameter; anything else is a 404 (it names nothing)."""
    raw = request.match_info[name]
    try:
        return str(uuid.UUID(raw))
    except ValueError as e:
        raise NotFound(f"no such {name.removesuffix('_id')}") from e


# The networks whose X-Forwarded-For is believed (TRUSTED_PROXIES); set by a service that limits per address.
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)


def client_address(request: web.Request) -> str:
    """The client's address, for in-memory rate limiting only: never stored, never logged.

    The direct peer, unless it is a trusted proxy (``TRUSTED_PROXIES``): then the right-most
    ``X-Forwarded-For`` address that is not itself a trusted proxy (see :func:`resolve_client_address`).
    """
    return resolve_client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                  request.app.get(TRUSTED_PROXIES, ()))


def resolve_client_address(peer: str | None, forwarded: list[str], trusted: tuple) -> str:
    """The client address given the peer, the ``X-Forwarded-For`` header lines (in order) and trusted networks.

    Each trusted proxy appends the address it received the request from, so reading right to left,
    every entry up to the first untrusted one was written by a proxy we trust; anything left of it
    was written by the client and may be forged. Entries are normalised (IPv4-mapped IPv6 is IPv4),
    so one client is one key. An entry that is not an address where a trusted proxy wrote one
    (a misconfigured proxy) ends the walk at the last hop we can vouch for.
    """
    current = _parse_ip(peer or "")
    if current is None:
        return peer or "unknown"
    if not _trusted(current, trusted):
        return str(current)
    hops = [hop.strip() for line in forwarded for hop in line.split(",")]
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


def _parse_ip(raw: str):
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address, trusted: tuple) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
