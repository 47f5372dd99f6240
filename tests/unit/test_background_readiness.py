"""A background task that dies (relay, consumer, delivery worker) makes /readyz say so.

Found by the postgres_restart reliability scenario: the delivery worker had died and
the instance still answered ready, so nothing would have restarted it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.http.app import new_app
from services.common.resources import background_ctx
from services.common.tokens import TokenVerifier
from tests.support.waiting import eventually


class Worker:
    """Runs until stopped, or crashes when told to."""

    def __init__(self) -> None:
        self.crash = asyncio.Event()
        self.stopped = asyncio.Event()

    def stop(self) -> None:
        self.stopped.set()

    async def run(self) -> None:
        crash = asyncio.create_task(self.crash.wait())
        stopped = asyncio.create_task(self.stopped.wait())
        await asyncio.wait({crash, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (crash, stopped):
            task.cancel()
        if self.crash.is_set():
            raise RuntimeError("worker crashed")


async def test_readyz_turns_503_when_a_background_task_has_crashed(aiohttp_client):
    worker = Worker()
    app = new_app(service="t", openapi=Path("unused.yaml"),
                  verifier=TokenVerifier(Ed25519PrivateKey.generate().public_key()))
    app.cleanup_ctx.append(background_ctx("delivery", lambda _app: worker, stop_timeout=2))
    client = await aiohttp_client(app)

    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"task:delivery": True}

    worker.crash.set()

    async def not_ready() -> bool:
        response = await client.get("/readyz")
        return response.status == 503 and (await response.json())["checks"] == {"task:delivery": False}

    await eventually(not_ready, timeout=5, what="/readyz to report the crashed task")
