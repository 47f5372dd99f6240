"""The typed application keys every service's app carries (set by :func:`services.common.http.app.new_app`)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.common.http.metrics import HttpMetrics
from services.common.sessions import Sessions
from services.common.suspensions import Suspensions
from services.common.tokens import TokenVerifier

METRICS = web.AppKey("metrics", HttpMetrics)
VERIFIER = web.AppKey("token_verifier", TokenVerifier)
SUSPENSIONS = web.AppKey("suspensions", Suspensions)
SESSIONS = web.AppKey("sessions", Sessions)
READINESS = web.AppKey("readiness_checks", dict)
# Liveness: checks whose failure a restart cures (a dead background task), unlike readiness's dependencies.
LIVENESS = web.AppKey("liveness_checks", dict)
OPENAPI_PATH = web.AppKey("openapi_path", Path)
CORS_ORIGINS = web.AppKey("cors_allowed_origins", frozenset)
# The networks whose X-Forwarded-For is believed (TRUSTED_PROXIES); set by a service that limits per address.
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)
