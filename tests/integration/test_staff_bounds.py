"""Issue 24, item 2: staff powers have bounds, through the whole stack (real PostgreSQL and Kafka).

A moderator may not act on a case about their own post, nor warn or suspend staff or admins;
only admins suspend staff; an admin lifts a suspension (``POST /v1/users/{id}/unsuspend``) and
every service lets the account back in. Refusals and lifts are in the audit log. Forum, which
knows every account's role, also refuses to apply a suspension of staff that no admin ordered.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer

from services.common.envelope import Event
from services.common.topics import MODERATION_ACTIONS
from tests.support.stack import Isolation, Stack, User, start_stack
from tests.support.waiting import eventually

HELD = "you are an idiot"


@pytest.fixture
async def review_stack(isolation: Isolation):
    async with start_stack(isolation, REPORT_NEW_ACCOUNT_HOURS="0") as stack:
        yield stack


async def _held_item(stack: Stack, author: User, moderator: User, body: str = HELD) -> tuple[str, str]:
    post_id = (await stack.start_thread(author, body))["post"]["id"]

    async def item_id():
        listing = await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json()
        return next((i["id"] for i in listing["items"] if i["post_id"] == post_id), None)

    return post_id, await eventually(item_id, what="the held post in the queue")


async def _act(stack: Stack, actor: User, item_id: str, **body) -> tuple[int, dict]:
    response = await stack.moderation.post(f"/v1/queue/{item_id}/actions", json=body, headers=actor.auth)
    return response.status, await response.json()


async def _audit(stack: Stack, admin: User, subject: str) -> list[dict]:
    response = await stack.moderation.get(f"/v1/audit?subject={subject}", headers=admin.auth)
    assert response.status == 200
    return (await response.json())["items"]


async def _can_post(stack: Stack, user: User) -> int:
    response = await stack.forum.post("/v1/communities/general/threads", json={"title": "t", "body": "hello"},
                                      headers=user.auth)
    return response.status


async def test_a_moderator_cannot_warn_or_suspend_staff_or_admins(review_stack: Stack) -> None:
    stack = review_stack
    moderator, admin = await stack.staff("moderator"), await stack.staff("admin")
    for role in ("admin", "moderator", "crisis_staff"):
        target = await stack.staff(role)
        post_id, item_id = await _held_item(stack, target, moderator)
        for action, extra in (("suspend", {"permanent": True}), ("warn", {})):
            status, body = await _act(stack, moderator, item_id, action=action, reason="abuse", **extra)
            assert status == 403, (role, action, body)
            assert body["error"]["code"] == "forbidden" and "staff" in body["error"]["message"]
        refused = [e for e in await _audit(stack, admin, f"post:{post_id}") if e["action"] == "queue.refused"]
        assert [(e["actor_id"], e["after"]["action"]) for e in refused] == [(moderator.id, "suspend"),
                                                                            (moderator.id, "warn")]
        # Nothing happened to the account anywhere.
        assert await stack.db.fetchval("SELECT suspended_until FROM forum.users WHERE id = $1",
                                       uuid.UUID(target.id)) is None
        assert await stack.db.fetchval("SELECT count(*) FROM moderation.suspensions WHERE user_id = $1",
                                       uuid.UUID(target.id)) == 0
        assert await _can_post(stack, target) == 201
        # The post itself is still the moderator's to judge.
        status, _ = await _act(stack, moderator, item_id, action="remove", reason="harassment")
        assert status == 200


async def test_only_an_admin_suspends_staff(review_stack: Stack) -> None:
    stack = review_stack
    moderator, other_moderator, admin = (await stack.staff("moderator"), await stack.staff("moderator"),
                                         await stack.staff("admin"))
    _, item_id = await _held_item(stack, other_moderator, moderator)
    status, _ = await _act(stack, admin, item_id, action="suspend", duration_hours=1, reason="abuse")
    assert status == 200
    await eventually(lambda: _status_is(_can_post(stack, other_moderator), 403), what="the suspension in forum")


async def test_no_one_acts_on_a_case_about_their_own_post(review_stack: Stack) -> None:
    stack = review_stack
    moderator, admin = await stack.staff("moderator"), await stack.staff("admin")
    for actor in (moderator, admin):
        post_id, item_id = await _held_item(stack, actor, admin if actor is moderator else moderator)
        claim = await stack.moderation.post(f"/v1/queue/{item_id}/claim", headers=actor.auth)
        assert claim.status == 403 and (await claim.json())["error"]["code"] == "forbidden"
        for action in ("approve", "dismiss", "note"):
            status, body = await _act(stack, actor, item_id, action=action, message="mine")
            assert status == 403 and "your own post" in body["error"]["message"], body
        audit = await _audit(stack, admin, f"post:{post_id}")
        assert [e["after"]["action"] for e in audit if e["action"] == "queue.refused"] == [
            "claim", "approve", "dismiss", "note"]
        assert await stack.post_status(actor, post_id) == "held"


async def test_an_admin_lifts_a_suspension_everywhere(review_stack: Stack) -> None:
    stack = review_stack
    member, moderator, admin = await stack.register(), await stack.staff("moderator"), await stack.staff("admin")
    _, item_id = await _held_item(stack, member, moderator)
    status, _ = await _act(stack, moderator, item_id, action="suspend", permanent=True, reason="abuse")
    assert status == 200
    await eventually(lambda: _status_is(_can_post(stack, member), 403), what="suspended in forum")

    async def notifications_status() -> int:  # a write: a suspended account may still read
        status = (await stack.notifications.post("/v1/notifications/read-all", headers=member.auth)).status
        return 200 if status in (200, 204) else status

    await eventually(lambda: _status_is(notifications_status(), 403), what="suspended in notifications")

    url = f"/v1/users/{member.id}/unsuspend"
    refused = await stack.moderation.post(url, json={"reason": "appeal"}, headers=moderator.auth)
    assert refused.status == 403
    lifted = await stack.moderation.post(url, json={"reason": "appeal upheld"}, headers=admin.auth)
    assert lifted.status == 200, await lifted.text()
    body = await lifted.json()
    assert body["user_id"] == member.id and body["suspended_until"] is None

    await eventually(lambda: _status_is(_can_post(stack, member), 201), what="writing again in forum")
    await eventually(lambda: _status_is(notifications_status(), 200), what="reading notifications again")
    assert (await stack.moderation.get("/v1/queue", headers=member.auth)).status == 403  # a member, not suspended
    login = await stack.forum.post("/v1/auth/login", json={"handle": member.handle,
                                                           "password": "correct horse battery staple"})
    assert login.status == 200
    assert await stack.db.fetchval("SELECT suspended_until FROM forum.users WHERE id = $1",
                                   uuid.UUID(member.id)) is None

    again = await stack.moderation.post(url, json={}, headers=admin.auth)
    assert again.status == 409
    unknown = await stack.moderation.post(f"/v1/users/{uuid.uuid4()}/unsuspend", json={}, headers=admin.auth)
    assert unknown.status == 409
    (entry,) = [e for e in await _audit(stack, admin, f"user:{member.id}") if e["action"] == "user.unsuspend"]
    assert entry["actor_id"] == admin.id and entry["reason"] == "appeal upheld"
    assert entry["before"]["suspended_until"].startswith("9999") and entry["after"]["suspended_until"] is None


async def test_forum_refuses_a_suspension_of_staff_no_admin_ordered(review_stack: Stack) -> None:
    """Defence in depth: even an ``action.taken`` that got past moderation does not lock out an admin."""
    stack = review_stack
    moderator, admin, member = await stack.staff("moderator"), await stack.staff("admin"), await stack.register()
    forged = [Event.create("action.taken", key=target.id, producer="moderation", data={
        "action_id": str(uuid.uuid4()), "action": "suspend", "user_id": target.id, "moderator_id": moderator.id,
        "until": "9999-12-31T00:00:00+00:00", "reason": "abuse"}) for target in (admin, member)]
    producer = AIOKafkaProducer(bootstrap_servers=stack.isolation.bootstrap_servers)
    await producer.start()
    try:
        for event in forged:
            await producer.send_and_wait(stack.isolation.topic_prefix + MODERATION_ACTIONS, event.to_json(),
                                         key=event.key.encode())
    finally:
        await producer.stop()

    async def consumed() -> bool:
        return await stack.db.fetchval("SELECT count(*) FROM forum.inbox WHERE event_id = ANY($1::uuid[])",
                                       [uuid.UUID(e.id) for e in forged]) == 2

    await eventually(consumed, what="both actions consumed by forum")
    assert await stack.db.fetchval("SELECT suspended_until FROM forum.users WHERE id = $1", uuid.UUID(admin.id)) is None
    assert await stack.db.fetchval("SELECT count(*) FROM forum.suspensions WHERE user_id = $1",
                                   uuid.UUID(admin.id)) == 0
    assert await _can_post(stack, admin) == 201
    # The same forged event against a member applies: forum checks roles, not who sent it.
    assert await stack.db.fetchval("SELECT suspended_until FROM forum.users WHERE id = $1",
                                   uuid.UUID(member.id)) is not None


async def _status_is(status, expected: int) -> bool:
    return await status == expected
