"""Nobody can lock a crisis worker out by spraying their handle; guessing stays closed.

Through forum's HTTP API. Different client addresses are real: the client binds 127.0.0.x
source addresses (Linux routes them over loopback). Behind a proxy, ``TRUSTED_PROXIES``
names it and the client address comes from ``X-Forwarded-For``; from any other peer the
header is ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from tests.support.stack import PASSWORD, Isolation, Stack, start_stack

pytestmark = pytest.mark.integration


@asynccontextmanager
async def from_address(stack: Stack, address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(base_url=str(stack.forum.make_url("/")), connector=connector) as session:
        yield session


async def login(session: aiohttp.ClientSession, handle: str, password: str = "wrong password!",
                forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    async with session.post("/v1/auth/login", json={"handle": handle, "password": password},
                            headers=headers) as response:
        body = await response.json()
        if response.status == 429:
            assert body["error"]["code"] == "rate_limited" and int(response.headers["Retry-After"]) >= 1
        return response.status


async def test_spraying_a_handle_does_not_lock_its_owner_out(isolation: Isolation) -> None:
    async with start_stack(isolation, without=("moderation", "notifications"), AUTH_ATTEMPTS_PER_MINUTE="3",
                           AUTH_FAILURES_PER_HANDLE_PER_HOUR="6") as stack:
        worker = await stack.staff("crisis_staff")  # signs in once from the test client's address, 127.0.0.1
        async with from_address(stack, "127.0.0.2") as attacker:
            assert [await login(attacker, worker.handle) for _ in range(3)] == [401, 401, 401]
            assert await login(attacker, worker.handle) == 429  # that address may guess no more
            assert await login(attacker, worker.handle, PASSWORD) == 429  # not even the right one
        # Successes never count: the worker signs in again and again, from a fresh address too.
        async with from_address(stack, "127.0.0.3") as worker_laptop:
            assert [await login(worker_laptop, worker.handle, PASSWORD) for _ in range(5)] == [200] * 5
        # A guess spread over many addresses reaches the per-handle limit (6 failures an hour)...
        # (the refused attempts above were never checked, so they do not count: 3 failures so far).
        async with from_address(stack, "127.0.0.4") as attacker:
            assert [await login(attacker, worker.handle) for _ in range(3)] == [401, 401, 401]
        # ...after which a new address is refused before its password is even checked (no oracle)...
        async with from_address(stack, "127.0.0.6") as attacker:
            assert await login(attacker, worker.handle) == 429
            assert await login(attacker, worker.handle, PASSWORD) == 429
        # ...while the worker, at an address they signed in from before, still gets in.
        async with from_address(stack, "127.0.0.3") as worker_laptop:
            assert await login(worker_laptop, worker.handle, PASSWORD) == 200
            assert await login(worker_laptop, worker.handle, "a typo of mine") == 401
            assert await login(worker_laptop, worker.handle, PASSWORD) == 200
        response = await stack.forum.post("/v1/auth/login", json={"handle": worker.handle, "password": PASSWORD})
        assert response.status == 200, await response.text()


async def test_one_address_cannot_spray_many_handles(isolation: Isolation) -> None:
    async with start_stack(isolation, without=("moderation", "notifications"), AUTH_ATTEMPTS_PER_MINUTE="3") as stack:
        member = await stack.register()
        async with from_address(stack, "127.0.0.7") as sprayer:
            assert [await login(sprayer, f"nobody{n}") for n in range(3)] == [401, 401, 401]
            assert await login(sprayer, "nobody9") == 429
            assert await login(sprayer, member.handle) == 429
        async with from_address(stack, "127.0.0.8") as other:
            assert await login(other, member.handle, PASSWORD) == 200


async def test_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(isolation: Isolation) -> None:
    async with start_stack(isolation, without=("moderation", "notifications"), AUTH_ATTEMPTS_PER_MINUTE="2",
                           TRUSTED_PROXIES="127.0.0.9,10.0.0.0/8") as stack:
        async with from_address(stack, "127.0.0.9") as proxy:
            # Two clients behind the proxy are two addresses, each with its own limit.
            assert [await login(proxy, f"nobody{n}", forwarded_for="203.0.113.5") for n in range(2)] == [401, 401]
            assert await login(proxy, "nobody8", forwarded_for="203.0.113.5") == 429
            assert await login(proxy, "nobody8", forwarded_for="203.0.113.6") == 401
            # A client cannot escape its limit by sending its own X-Forwarded-For: the proxy appends
            # the real address, and the right-most untrusted one counts.
            assert await login(proxy, "nobody8", forwarded_for="198.51.100.1, 203.0.113.5") == 429
            assert await login(proxy, "nobody8", forwarded_for="203.0.113.5, 10.1.1.1") == 429  # a trusted hop
        async with from_address(stack, "127.0.0.10") as untrusted:
            # From a peer that is not a trusted proxy the header is ignored: the peer is the client.
            assert [await login(untrusted, f"nobody{n}", forwarded_for=f"198.51.100.{n}")
                    for n in range(2)] == [401, 401]
            assert await login(untrusted, "nobody7", forwarded_for="198.51.100.77") == 429
            assert await login(untrusted, "nobody7") == 429
