"""Killing notifications mid-delivery and restarting it delivers every pending notification once
per channel: none missing, and repeats of an interrupted send carry the same delivery id, which
the receiver uses to drop them (the at-least-once contract every webhook receiver is given)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections import Counter
from pathlib import Path

import aiohttp
from aiohttp import web

from services.notifications.delivery import DELIVERY_HEADER
from tests.support.stack import Isolation, start_client, start_stack
from tests.support.waiting import eventually

POSTS = 6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _start_notifications(isolation: Isolation, port: int, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, **isolation.env(HTTP_PORT=str(port), DELIVERY_LEASE_SECONDS="2",
                                         DELIVERY_TIMEOUT_SECONDS="1", DELIVERY_BACKOFF_SECONDS="0.1",
                                         LOG_LEVEL="WARNING")}
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.notifications", env=env,
                                                       stdout=output, stderr=output)

    async def ready() -> bool:
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    return response.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await eventually(ready, timeout=60, interval=0.3, what="notifications process ready")
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- its output ---\n{log.read_text()[-3000:]}") from None
    return process


async def test_sigkill_mid_delivery_loses_nothing(isolation: Isolation, tmp_path: Path) -> None:
    received: list[str] = []
    first_request = asyncio.Event()

    async def slow_pager(request: web.Request) -> web.Response:
        received.append(request.headers[DELIVERY_HEADER])
        first_request.set()
        await asyncio.sleep(0.5)  # a slow receiver: the kill lands while sends are in flight
        return web.Response(status=200)

    receiver_app = web.Application()
    receiver_app.router.add_post("/pager", slow_pager)
    receiver = await start_client(receiver_app)
    port = _free_port()
    process = None
    try:
        async with start_stack(isolation, without=("notifications",)) as stack:
            admin = await stack.staff("admin")
            process = await _start_notifications(isolation, port, tmp_path / "notifications.log")
            async with aiohttp.ClientSession(headers=admin.auth) as http:
                async with http.post(f"http://127.0.0.1:{port}/v1/webhooks",
                                     json={"url": str(receiver.make_url("/pager")), "role": "crisis_staff"}) as r:
                    assert r.status == 201
            for _ in range(POSTS):
                author = await stack.register()
                await stack.start_thread(author, "I have the pills ready and I'm taking all of them tonight")
            await asyncio.wait_for(first_request.wait(), 60)
            process.send_signal(signal.SIGKILL)
            await process.wait()
            # The receiver answers after 0.5 s, so at least the first send was still in flight.
            sent_before_kill = await stack.db.fetchval(
                "SELECT count(*) FROM notifications.deliveries WHERE status = 'sent'")

            process = await _start_notifications(isolation, port, tmp_path / "notifications.log")

            async def all_sent() -> bool:
                rows = await stack.db.fetch("SELECT status, count(*) AS n FROM notifications.deliveries "
                                            "GROUP BY status")
                return {r["status"]: r["n"] for r in rows} == {"sent": POSTS}  # one per notification, all sent

            await eventually(all_sent, timeout=90, interval=0.3, what="every page delivered after restart")
            assert len(set(received)) == POSTS, "no page missing, none delivered under two ids"
            repeats = Counter(received)
            assert all(n <= 2 for n in repeats.values()), f"only an interrupted send repeats: {repeats}"
            assert sent_before_kill < POSTS, "the kill must land mid-delivery for this test to mean anything"
    finally:
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
        await receiver.close()
