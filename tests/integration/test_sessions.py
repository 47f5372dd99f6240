"""Sessions end when people say so (issue 24, item 5).

* ``POST /v1/auth/logout`` ends this session: its refresh-token family dies and its access
  token is refused by every service within seconds;
* ``POST /v1/auth/logout-all`` ends every session of the account;
* reusing a rotated refresh token revokes its whole family (OAuth 2.0 Security BCP), access
  tokens included;
* the live stream closes when its token expires or its session is revoked.
"""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from tests.support.stack import PASSWORD, Isolation, Stack, User, start_stack
from tests.support.waiting import eventually

# One operation per service that any signed-in member may call (moderation answers a member 403 for
# the role, which still proves the token itself was accepted).
PROBES = {"forum": "/v1/communities", "moderation": "/v1/queue", "notifications": "/v1/preferences"}
ACCEPTED = {"forum": 200, "moderation": 403, "notifications": 200}


async def statuses(stack: Stack, token: str) -> dict[str, int]:
    found = {}
    for service, path in PROBES.items():
        response = await getattr(stack, service).get(path, headers={"Authorization": f"Bearer {token}"})
        found[service] = response.status
        response.close()
    return found


async def login(stack: Stack, handle: str) -> dict:
    response = await stack.forum.post("/v1/auth/login", json={"handle": handle, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return await response.json()


async def refresh(stack: Stack, refresh_token: str):
    return await stack.forum.post("/v1/auth/refresh", json={"refresh_token": refresh_token})


async def refused_everywhere(stack: Stack, token: str, within: float = 5.0) -> float:
    started = time.monotonic()

    async def refused():
        found = await statuses(stack, token)
        return found if all(status == 401 for status in found.values()) else None

    await eventually(refused, timeout=15, interval=0.1, what="every service refuses the token")
    took = time.monotonic() - started
    assert took < within, f"the revocation took {took:.1f}s to reach every service"
    return took


@pytest.mark.integration
async def test_access_tokens_name_their_session(stack: Stack) -> None:
    member = await stack.register()
    first = jwt.decode(member.token, options={"verify_signature": False})
    session = await login(stack, member.handle)
    second = jwt.decode(session["token"], options={"verify_signature": False})
    assert first["sid"] and second["sid"] and first["sid"] != second["sid"], "each sign-in is its own session"
    renewed = await refresh(stack, session["refresh_token"])
    assert renewed.status == 200
    third = jwt.decode((await renewed.json())["token"], options={"verify_signature": False})
    assert third["sid"] == second["sid"], "a refresh stays in its session (the refresh-token family)"


@pytest.mark.integration
async def test_logout_ends_this_session_everywhere_and_only_this_one(stack: Stack) -> None:
    member = await stack.register()
    here, elsewhere = await login(stack, member.handle), await login(stack, member.handle)
    assert await statuses(stack, here["token"]) == ACCEPTED

    response = await stack.forum.post("/v1/auth/logout", headers={"Authorization": f"Bearer {here['token']}"})
    assert response.status == 204, await response.text()
    await refused_everywhere(stack, here["token"])
    assert (await refresh(stack, here["refresh_token"])).status == 401, "the session's refresh token is dead"

    # The other session (another device) goes on.
    assert await statuses(stack, elsewhere["token"]) == ACCEPTED
    assert (await refresh(stack, elsewhere["refresh_token"])).status == 200
    # Logging out twice is harmless; without any proof of a session it is a 401.
    response = await stack.forum.post("/v1/auth/logout", json={"refresh_token": here["refresh_token"]})
    assert response.status == 204
    assert (await stack.forum.post("/v1/auth/logout")).status == 401


@pytest.mark.integration
async def test_logout_with_only_the_refresh_token_ends_the_session(stack: Stack) -> None:
    """Quick exit may hold an expired access token: the refresh token alone proves the session."""
    member = await stack.register()
    session = await login(stack, member.handle)
    response = await stack.forum.post("/v1/auth/logout", json={"refresh_token": session["refresh_token"]})
    assert response.status == 204, await response.text()
    await refused_everywhere(stack, session["token"])
    assert (await refresh(stack, session["refresh_token"])).status == 401


@pytest.mark.integration
async def test_logout_all_ends_every_session_of_the_account(stack: Stack) -> None:
    member, bystander = await stack.register(), await stack.register()
    sessions = [await login(stack, member.handle) for _ in range(3)]
    response = await stack.forum.post("/v1/auth/logout-all", headers=member.auth)
    assert response.status == 204, await response.text()
    for token in [member.token, *(s["token"] for s in sessions)]:
        await refused_everywhere(stack, token)
    for session in sessions:
        assert (await refresh(stack, session["refresh_token"])).status == 401
    assert await statuses(stack, bystander.token) == ACCEPTED
    # Signing in again afterwards works at once.
    again = await login(stack, member.handle)
    assert await statuses(stack, again["token"]) == ACCEPTED


@pytest.mark.integration
async def test_reusing_a_rotated_refresh_token_revokes_its_whole_family(stack: Stack) -> None:
    member = await stack.register()
    stolen = await login(stack, member.handle)
    other_device = await login(stack, member.handle)
    rotated = await refresh(stack, stolen["refresh_token"])
    assert rotated.status == 200
    legit = await rotated.json()
    assert await statuses(stack, legit["token"]) == ACCEPTED

    # The consumed token is presented again (a thief, or the victim after the thief): the family dies.
    replay = await refresh(stack, stolen["refresh_token"])
    assert replay.status == 401
    assert (await refresh(stack, legit["refresh_token"])).status == 401, "the newest token of the family too"
    await refused_everywhere(stack, legit["token"])
    await refused_everywhere(stack, stolen["token"])
    # Other sessions of the account are not this family.
    assert await statuses(stack, other_device["token"]) == ACCEPTED
    assert (await refresh(stack, other_device["refresh_token"])).status == 200


@pytest.mark.integration
async def test_logout_reaches_a_service_that_was_down_when_it_happened(isolation: Isolation) -> None:
    """The event waits in Kafka; notifications applies it (inbox, idempotent) when it comes back."""
    async with start_stack(isolation, without=("notifications",)) as stack:
        member = await stack.register()
        session = await login(stack, member.handle)
        response = await stack.forum.post("/v1/auth/logout", headers={"Authorization": f"Bearer {session['token']}"})
        assert response.status == 204
        token = session["token"]
    async with start_stack(isolation) as stack:
        async def refused():
            response = await stack.notifications.get("/v1/preferences", headers={"Authorization": f"Bearer {token}"})
            return response.status == 401

        await eventually(refused, timeout=30, what="notifications learns of the logout")


async def _stream_ends(stack: Stack, user_auth: dict[str, str], within: float) -> None:
    stream = await stack.notifications.get("/v1/stream", headers=user_auth)
    assert stream.status == 200
    try:
        await asyncio.wait_for(stream.content.read(), within)  # returns when the server closes the stream
    finally:
        stream.close()


@pytest.mark.integration
async def test_the_live_stream_closes_when_its_session_is_revoked(isolation: Isolation) -> None:
    async with start_stack(isolation, SSE_HEARTBEAT_SECONDS="0.5") as stack:
        member = await stack.register()
        stream = await stack.notifications.get("/v1/stream", headers=member.auth)
        assert stream.status == 200
        response = await stack.forum.post("/v1/auth/logout", headers=member.auth)
        assert response.status == 204
        try:
            await asyncio.wait_for(stream.content.read(), 10)
        finally:
            stream.close()


@pytest.mark.integration
async def test_the_live_stream_closes_when_its_token_expires(isolation: Isolation) -> None:
    async with start_stack(isolation, SSE_HEARTBEAT_SECONDS="5", ACCESS_TOKEN_TTL_SECONDS="30") as stack:
        member = await stack.register()
        claims = jwt.decode(member.token, options={"verify_signature": False})
        stream = await stack.notifications.get("/v1/stream", headers=member.auth)
        assert stream.status == 200
        try:
            await asyncio.wait_for(stream.content.read(), 45)
        finally:
            stream.close()
        assert time.time() >= claims["exp"] - 1, "the stream ended at the token's expiry, not before"


def _user(session: dict) -> User:
    return User(session["user"]["id"], session["user"]["handle"], session["user"]["role"], session["token"])
