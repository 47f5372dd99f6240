"""Access tokens: expiry, signing-key rotation without logging anyone out, revocation on suspension."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.errors import ConfigError
from services.common.tokens import Principal, TokenSigner, generate_keypair, key_id
from tests.support.stack import Isolation, Stack, User, build_app, start_stack
from tests.support.waiting import eventually

# One operation per service that any signed-in member may call.
PROBES = {"forum": "/v1/communities", "moderation": "/v1/queue", "notifications": "/v1/preferences"}


async def statuses(stack: Stack, user: User) -> dict[str, tuple[int, str]]:
    found = {}
    for service, path in PROBES.items():
        response = await getattr(stack, service).get(path, headers=user.auth)
        body = await response.json()
        found[service] = (response.status, body.get("error", {}).get("message", ""))
    return found


async def write_statuses(stack: Stack, user: User) -> dict[str, tuple[int, str]]:
    """A write per service (to nothing: anyone else gets a 404 or, on moderation, the role's 403)."""
    nothing = uuid.uuid4()
    found = {}
    for service, method, path in (("forum", "PATCH", f"/v1/posts/{nothing}"),
                                  ("moderation", "POST", f"/v1/queue/{nothing}/claim"),
                                  ("notifications", "POST", f"/v1/notifications/{nothing}/read")):
        response = await getattr(stack, service).request(method, path, json={"body": "x"}, headers=user.auth)
        body = await response.json()
        found[service] = (response.status, body.get("error", {}).get("message", ""))
    return found


def let_in(found: dict[str, tuple[int, str]]) -> bool:
    """Forum and notifications answer a member 200; moderation 403 for the role (not for the token)."""
    return (found["forum"][0] == 200 and found["notifications"][0] == 200
            and found["moderation"] == (403, "your role cannot do this"))


@pytest.mark.integration
async def test_an_expired_or_foreign_token_is_refused_everywhere(stack: Stack) -> None:
    member = await stack.register()
    claims = jwt.decode(member.token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900  # ACCESS_TOKEN_TTL_SECONDS' default
    assert let_in(await statuses(stack, member))

    expired = TokenSigner.from_file(stack.isolation.private_key, ttl_seconds=-1).issue(
        Principal(member.id, member.handle, "member"))
    found = await statuses(stack, User(member.id, member.handle, "member", expired))
    assert found == {service: (401, "token expired") for service in PROBES}

    forged = TokenSigner(Ed25519PrivateKey.generate(), ttl_seconds=300).issue(
        Principal(member.id, member.handle, "admin"))
    found = await statuses(stack, User(member.id, member.handle, "admin", forged))
    assert found == {service: (401, "invalid token") for service in PROBES}


@pytest.mark.integration
async def test_the_signing_key_rotates_without_logging_anyone_out(isolation: Isolation, tmp_path: Path) -> None:
    old_public = isolation.public_key
    new_private, new_public = tmp_path / "new.pem", tmp_path / "new.pub.pem"
    generate_keypair(new_private, new_public)
    both = tmp_path / "keyset.pem"
    both.write_bytes(old_public.read_bytes() + new_public.read_bytes())

    # Before: one key. A member signs in and holds a token signed with it.
    async with start_stack(isolation) as stack:
        member = await stack.register()
        old_kid = jwt.get_unverified_header(member.token)["kid"]

    # Step 1: every service trusts both keys; forum still signs with the old one.
    async with start_stack(isolation, TOKEN_PUBLIC_KEY_FILE=str(both)) as stack:
        assert let_in(await statuses(stack, member))

    # Step 2: forum signs with the new key. The old token still works everywhere; new ones carry the new kid.
    async with start_stack(isolation, TOKEN_PUBLIC_KEY_FILE=str(both), TOKEN_PRIVATE_KEY_FILE=str(new_private)) as stack:
        assert let_in(await statuses(stack, member))
        again = await stack.register()
        new_kid = jwt.get_unverified_header(again.token)["kid"]
        assert new_kid != old_kid
        assert let_in(await statuses(stack, again))

    # Step 3 (once ACCESS_TOKEN_TTL_SECONDS has passed): the old key is dropped; its tokens no longer verify.
    async with start_stack(isolation, TOKEN_PUBLIC_KEY_FILE=str(new_public),
                           TOKEN_PRIVATE_KEY_FILE=str(new_private)) as stack:
        assert let_in(await statuses(stack, again))
        assert (await statuses(stack, member))["forum"] == (401, "invalid token")

    # Forum refuses to start signing with a key the services do not trust yet (step 2 before step 1).
    with pytest.raises(ConfigError, match="not in TOKEN_PUBLIC_KEY_FILE"):
        build_app("forum", isolation.env(TOKEN_PRIVATE_KEY_FILE=str(new_private)))
    assert old_kid == key_id(serialization.load_pem_public_key(old_public.read_bytes()))


async def _held_item(stack: Stack, author: User, moderator: User) -> str:
    await stack.start_thread(author, "I have the pills ready and I'm taking all of them tonight")

    async def item():
        items = (await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json())["items"]
        return items[0]["id"] if items else None  # the only post in this test's database

    return await eventually(item, what="the member's post in the queue")


@pytest.mark.integration
async def test_suspension_revokes_the_members_tokens_on_every_service_at_once(isolation: Isolation) -> None:
    async with start_stack(isolation, SSE_HEARTBEAT_SECONDS="0.5") as stack:
        await _suspension_revokes(stack)


async def _suspension_revokes(stack: Stack) -> None:
    member, bystander = await stack.register(), await stack.register()
    login = await stack.forum.post("/v1/auth/login", json={"handle": member.handle, "password": "correct horse battery staple"})
    refresh_token = (await login.json())["refresh_token"]
    moderator = await stack.staff("moderator")
    item = await _held_item(stack, member, moderator)
    assert let_in(await statuses(stack, member))

    response = await stack.moderation.post(f"/v1/queue/{item}/actions", headers=moderator.auth,
                                           json={"action": "suspend", "duration_hours": 2, "reason": "abuse"})
    assert response.status == 200, await response.text()
    acted = time.monotonic()

    async def refused_everywhere():
        found = await write_statuses(stack, member)
        return found if all(status == 403 and "suspended until" in message
                            for status, message in found.values()) else None

    await eventually(refused_everywhere, timeout=15, interval=0.1, what="every service refuses the member")
    took = time.monotonic() - acted
    assert took < 5, f"the suspension took {took:.1f}s to reach every service"
    # Read-only, not locked out (issue 24, item 9): reads that need no role still work, the live
    # stream included, so support and outreach reach the member.
    found = await statuses(stack, member)
    assert found["forum"][0] == 200 and found["notifications"][0] == 200
    assert found["moderation"][0] == 403 and "suspended until" in found["moderation"][1]
    stream = await stack.notifications.get("/v1/stream", headers=member.auth)
    assert stream.status == 200
    stream.close()

    # The suspension revoked the refresh tokens; signing in again gives a read-only session.
    response = await stack.forum.post("/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert response.status == 401
    response = await stack.forum.post("/v1/auth/login", json={"handle": member.handle,
                                                              "password": "correct horse battery staple"})
    assert response.status == 200
    again = User(member.id, member.handle, "member", (await response.json())["token"])
    assert all(status == 403 for status, _ in (await write_statuses(stack, again)).values())
    # A wrong password still says only "wrong handle or password" (no account state leaks).
    response = await stack.forum.post("/v1/auth/login", json={"handle": member.handle, "password": "x" * 12})
    assert response.status == 401
    # Nobody else is touched.
    assert let_in(await statuses(stack, bystander))
