"""Rate limits: login (per handle and per address), registration, posting and reporting.

Over the limit is a 429 with ``Retry-After`` (whole seconds) and the JSON error
shape. Different client addresses are real: the client binds 127.0.0.x source
addresses, which Linux routes over loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from tests.support.stack import PASSWORD, Isolation, Stack, start_stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@asynccontextmanager
async def from_address(stack: Stack, address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(base_url=str(stack.forum.make_url("/")), connector=connector) as session:
        yield session


async def assert_limited(response: aiohttp.ClientResponse, *, at_most: int) -> None:
    assert response.status == 429, await response.text()
    assert (await response.json())["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= at_most


async def login(session: aiohttp.ClientSession, handle: str, password: str = "wrong password!") -> aiohttp.ClientResponse:
    response = await session.post("/v1/auth/login", json={"handle": handle, "password": password})
    await response.read()
    return response


async def test_logins_are_limited_per_handle_and_per_address(isolation: Isolation) -> None:
    async with start_stack(isolation, AUTH_ATTEMPTS_PER_MINUTE="3") as stack:
        victim = await stack.register()
        # Per handle and address: three failed guesses from one address close the handle to that
        # address; its owner elsewhere still signs in (only failures count; tests/security/test_login_lockout.py).
        async with from_address(stack, "127.0.0.2") as first:
            for _ in range(3):
                assert (await login(first, victim.handle)).status == 401
            await assert_limited(await login(first, victim.handle), at_most=60)
        async with from_address(stack, "127.0.0.3") as second:
            assert (await login(second, victim.handle, PASSWORD)).status == 200
        # Per address: one address trying many handles is closed after three attempts.
        async with from_address(stack, "127.0.0.4") as sprayer:
            for n in range(3):
                assert (await login(sprayer, f"nobody{n}")).status == 401
            await assert_limited(await login(sprayer, "nobody9"), at_most=60)
        # Everyone else still signs in.
        async with from_address(stack, "127.0.0.5") as other:
            other_member = await stack.register()
            assert (await login(other, other_member.handle, PASSWORD)).status == 200


async def test_registrations_are_limited_per_address(isolation: Isolation) -> None:
    async with start_stack(isolation, REGISTRATIONS_PER_HOUR="2") as stack:
        async with from_address(stack, "127.0.0.6") as session:
            for n in range(2):
                response = await session.post("/v1/auth/register", json={"handle": f"new_{n}_x", "password": PASSWORD})
                assert response.status == 201
            response = await session.post("/v1/auth/register", json={"handle": "new_9_x", "password": PASSWORD})
            await assert_limited(response, at_most=3600)
        async with from_address(stack, "127.0.0.7") as session:
            response = await session.post("/v1/auth/register", json={"handle": "new_8_x", "password": PASSWORD})
            assert response.status == 201


async def test_posting_and_reporting_are_limited_per_member(isolation: Isolation) -> None:
    async with start_stack(isolation, POSTS_PER_MINUTE="2", REPORTS_PER_MINUTE="2") as stack:
        author, reporter = await stack.register(), await stack.register()
        opened = await stack.start_thread(author, "Day 3. Still here.")
        thread_id, post_id = opened["thread"]["id"], opened["post"]["id"]
        response = await stack.forum.post(f"/v1/threads/{thread_id}/posts", json={"body": "and again"},
                                          headers=author.auth)
        assert response.status == 201
        response = await stack.forum.post(f"/v1/threads/{thread_id}/posts", json={"body": "one more"},
                                          headers=author.auth)
        await assert_limited(response, at_most=60)
        # Another member is not affected by the author's limit.
        await stack.start_thread(reporter, "Week one.")

        await eventually(lambda: stack.has_status(author, post_id, "published"), what="published")
        statuses = []
        for _ in range(2):
            response = await stack.forum.post(f"/v1/posts/{post_id}/reports", json={"reason": "spam"},
                                              headers=reporter.auth)
            statuses.append(response.status)
        assert statuses == [201, 200]  # the second is the same report, counted once
        response = await stack.forum.post(f"/v1/posts/{post_id}/reports", json={"reason": "spam"},
                                          headers=reporter.auth)
        await assert_limited(response, at_most=60)
