"""A dead background task fails liveness (/healthz 503), not only readiness.

Issue 24: the delivery worker died and /healthz kept answering 200, so the orchestrator's
liveness probe never restarted the instance (readiness only stops routing to it), and crisis
e-mail stopped with every probe green. Any service's background task counts (background_ctx).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.http.app import new_app
from services.common.resources import background_ctx
from services.common.tokens import TokenVerifier
from tests.support.waiting import eventually
from tests.unit.test_background_readiness import Worker


def _app_with(*workers: tuple[str, Worker]):
    app = new_app(service="t", openapi=Path("unused.yaml"),
                  verifier=TokenVerifier(Ed25519PrivateKey.generate().public_key()))
    for name, worker in workers:
        app.cleanup_ctx.append(background_ctx(name, lambda _app, w=worker: w, stop_timeout=2))
    return app


async def test_healthz_turns_503_naming_the_dead_task(aiohttp_client):
    delivery, relay = Worker(), Worker()
    client = await aiohttp_client(_app_with(("delivery", delivery), ("outbox-relay-forum", relay)))

    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"

    delivery.crash.set()

    async def dead() -> dict | None:
        response = await client.get("/healthz")
        return await response.json() if response.status == 503 else None

    body = await eventually(dead, timeout=5, what="/healthz to report the dead task")
    assert body["status"] == "failing"
    assert body["checks"] == {"task:delivery": False, "task:outbox-relay-forum": True}


async def test_healthz_ignores_dependencies_that_are_only_unready(aiohttp_client):
    """PostgreSQL or Kafka down is readiness (stop routing), not liveness: a restart would not help."""
    app = _app_with()

    async def down() -> bool:
        return False

    async def add_check(app):
        from services.common.http.appkeys import READINESS
        app[READINESS]["postgres"] = down
        yield

    app.cleanup_ctx.append(add_check)
    client = await aiohttp_client(app)
    assert (await client.get("/readyz")).status == 503
    response = await client.get("/healthz")
    assert response.status == 200 and (await response.json()) == {"status": "ok"}
