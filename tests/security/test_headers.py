"""Response headers for the web client: CORS allow-list, no-store, nosniff."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.stack import Isolation, start_stack

pytestmark = pytest.mark.integration

ALLOWED = "https://haven.example.org"
SERVICES = ("forum", "moderation", "notifications")


async def test_cors_echoes_only_allowed_origins_and_never_a_wildcard(isolation: Isolation) -> None:
    async with start_stack(isolation, CORS_ALLOWED_ORIGINS=f"{ALLOWED}, http://localhost:5173") as stack:
        member = await stack.register()
        for service in SERVICES:
            client = getattr(stack, service)
            allowed = await client.get("/healthz", headers={"Origin": ALLOWED})
            assert allowed.headers.get("Access-Control-Allow-Origin") == ALLOWED, service
            assert "Origin" in allowed.headers.get("Vary", "")
            for origin in ("https://evil.example.net", "null", ALLOWED + ".evil.net", "http://haven.example.org"):
                refused = await client.get("/healthz", headers={"Origin": origin})
                assert "Access-Control-Allow-Origin" not in refused.headers, (service, origin)
            preflight = await client.options("/v1/notifications", headers={
                "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type"})
            assert preflight.status in (200, 204)
            assert preflight.headers.get("Access-Control-Allow-Origin") == ALLOWED
            assert "authorization" in preflight.headers.get("Access-Control-Allow-Headers", "").lower()
            refused = await client.options("/v1/notifications", headers={
                "Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"})
            assert "Access-Control-Allow-Origin" not in refused.headers
        # Authenticated and error responses too; never '*'.
        for response in [await stack.forum.get("/v1/communities", headers={"Origin": ALLOWED, **member.auth}),
                         await stack.forum.get("/v1/communities", headers={"Origin": ALLOWED})]:
            assert response.headers.get("Access-Control-Allow-Origin") == ALLOWED
            assert response.headers.getall("Access-Control-Allow-Origin") != ["*"]


async def test_no_cors_headers_without_an_allow_list(isolation: Isolation) -> None:
    async with start_stack(isolation) as stack:
        response = await stack.forum.get("/healthz", headers={"Origin": ALLOWED})
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_no_store_and_nosniff(stack) -> None:
    member = await stack.register()
    # Every /v1 answer: authenticated ones, errors, and the token-bearing login (no Authorization header).
    login = await stack.forum.post("/v1/auth/login", json={"handle": member.handle,
                                                           "password": "correct horse battery staple"})
    assert login.status == 200
    responses = {
        "login": login,
        "forum": await stack.forum.get("/v1/communities", headers=member.auth),
        "moderation": await stack.moderation.get("/v1/queue", headers=member.auth),
        "notifications": await stack.notifications.get("/v1/notifications", headers=member.auth),
        "anonymous 401": await stack.forum.get("/v1/communities"),
        "not found": await stack.forum.get("/v1/nowhere", headers=member.auth),
    }
    for name, response in responses.items():
        assert response.headers.get("Cache-Control") == "no-store", name
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
    health = await stack.forum.get("/healthz")
    assert health.headers.get("X-Content-Type-Options") == "nosniff"
    # The live stream too (its headers go out before its handler returns).
    stream = await stack.notifications.get("/v1/stream", headers=member.auth)
    try:
        assert stream.status == 200
        assert stream.headers.get("Cache-Control") == "no-store"
        assert stream.headers.get("X-Content-Type-Options") == "nosniff"
    finally:
        stream.close()
        await asyncio.sleep(0)
