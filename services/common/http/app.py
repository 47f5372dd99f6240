"""The skeleton of every service's aiohttp app: middlewares, limits, the shared app keys, operational routes."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.common.http.appkeys import (
    CORS_ORIGINS,
    LIVENESS,
    METRICS,
    OPENAPI_PATH,
    READINESS,
    SESSIONS,
    SUSPENSIONS,
    VERIFIER,
)
from services.common.http.body import MAX_REQUEST_BYTES
from services.common.http.cors import cors_on_prepare, cors_preflight_middleware
from services.common.http.middleware import error_middleware, security_headers_on_prepare, trace_middleware
from services.common.http.metrics import HttpMetrics
from services.common.http.ops import add_ops_routes
from services.common.sessions import Sessions
from services.common.suspensions import Suspensions
from services.common.tokens import TokenVerifier


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
    add_ops_routes(app)
    return app
