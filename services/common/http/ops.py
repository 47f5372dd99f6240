"""Operational routes every service serves: liveness, readiness, Prometheus metrics, its OpenAPI document."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.http.appkeys import LIVENESS, METRICS, OPENAPI_PATH, READINESS


def add_ops_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/openapi.yaml", openapi_view)


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


