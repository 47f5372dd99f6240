"""A suspended member can still read (issue 24, item 9).

The rule: a suspension makes an account read-only, not locked out. Login and refresh work;
the account's tokens may read (GET) what the account may see (its own notifications, the
support and outreach messages sent to it, live; its own posts, held or removed; threads it can
see) and end its sessions (logout, logout-all). Every other request, on every service, is a
403 ``your account is suspended until ...``. Staff-only reads stay closed to a suspended account.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.stack import PASSWORD, Stack, User
from tests.support.waiting import eventually

CRISIS = "I have the pills ready and I'm taking all of them tonight"


async def _suspend(stack: Stack, member: User, moderator: User, item: str) -> None:
    response = await stack.moderation.post(f"/v1/queue/{item}/actions", headers=moderator.auth,
                                           json={"action": "suspend", "duration_hours": 2, "reason": "abuse",
                                                 "message": "Taking a short break from posting."})
    assert response.status == 200, await response.text()


@pytest.mark.integration
async def test_a_suspended_member_reads_their_messages_and_posts_but_cannot_write(stack: Stack) -> None:
    member, moderator = await stack.register(), await stack.staff("moderator")
    crisis_staff = await stack.staff("crisis_staff")
    opened = await stack.start_thread(member, CRISIS)
    post_id, thread_id = opened["post"]["id"], opened["thread"]["id"]

    async def queued():
        items = (await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json())["items"]
        return items[0]["id"] if items else None

    item = await eventually(queued, what="the post in the queue")
    await _suspend(stack, member, moderator, item)

    async def writes_refused():
        response = await stack.forum.post(f"/v1/threads/{thread_id}/posts", json={"body": "still here"},
                                          headers=member.auth)
        return response.status == 403 and "suspended until" in (await response.json())["error"]["message"]

    await eventually(writes_refused, timeout=10, what="forum refuses the suspended member's writes")

    async def notifications_knows():
        response = await stack.notifications.put("/v1/preferences", json={}, headers=member.auth)
        return response.status == 403

    await eventually(notifications_knows, timeout=10, what="notifications learns of the suspension")

    # The live stream opens, and support sent now arrives on it.
    stream = await stack.notifications.get("/v1/stream", headers=member.auth)
    assert stream.status == 200
    try:
        async def escalation():
            items = (await (await stack.moderation.get("/v1/escalations", headers=crisis_staff.auth)).json())["items"]
            return items[0]["id"] if items else None

        escalation_id = await eventually(escalation, what="the escalation")
        response = await stack.moderation.post(f"/v1/escalations/{escalation_id}/outreach",
                                               json={"message": "We're here with you tonight."},
                                               headers=crisis_staff.auth)
        assert response.status == 200, await response.text()

        async def outreach_on_stream():
            while True:
                line = (await stream.content.readline()).decode()
                if line.startswith("event: support.outreach"):
                    return True

        assert await asyncio.wait_for(outreach_on_stream(), 20)
    finally:
        stream.close()

    # Reads: notifications (the suspension notice and the outreach), their own post, the thread.
    kinds = {n["type"] for n in await stack.notifications_of(member)}
    assert "support.outreach" in kinds, kinds
    assert (await stack.notifications.get("/v1/notifications/unread-count", headers=member.auth)).status == 200
    response = await stack.forum.get(f"/v1/posts/{post_id}", headers=member.auth)
    assert response.status == 200
    assert (await stack.forum.get(f"/v1/threads/{thread_id}", headers=member.auth)).status == 200
    assert (await stack.forum.get("/v1/communities", headers=member.auth)).status == 200

    # Writes: 403 on every service, with the end of the suspension.
    writes = [
        lambda: stack.forum.post(f"/v1/communities/{stack.community}/threads", json={"title": "t", "body": "b"},
                                 headers=member.auth),
        lambda: stack.forum.patch(f"/v1/posts/{post_id}", json={"body": "edited"}, headers=member.auth),
        lambda: stack.forum.post(f"/v1/posts/{post_id}/appeal", json={"note": "n"}, headers=member.auth),
        lambda: stack.notifications.put("/v1/preferences", json={}, headers=member.auth),
        lambda: stack.notifications.post("/v1/notifications/read-all", headers=member.auth),
        lambda: stack.moderation.get("/v1/queue", headers=member.auth),  # a staff read: never for a suspended account
    ]
    for write in writes:
        response = await write()
        body = await response.json()
        assert response.status == 403 and "suspended until" in body["error"]["message"], (response.url, body)


@pytest.mark.integration
async def test_a_suspended_member_can_sign_in_and_refresh_to_read(stack: Stack) -> None:
    member = await stack.register()
    until = datetime.now(timezone.utc) + timedelta(hours=2)
    # Every service has learnt the suspension (test_tokens.py follows the real path over Kafka).
    for schema in ("forum", "moderation", "notifications"):
        await stack.db.execute(f"INSERT INTO {schema}.suspensions (user_id, until) VALUES ($1, $2)",
                               uuid.UUID(member.id), until)
    await stack.db.execute("UPDATE forum.users SET suspended_until = $2 WHERE id = $1", uuid.UUID(member.id), until)

    response = await stack.forum.post("/v1/auth/login", json={"handle": member.handle, "password": PASSWORD})
    assert response.status == 200, await response.text()
    session = await response.json()
    response = await stack.forum.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert response.status == 200, await response.text()
    renewed = await response.json()
    auth = {"Authorization": f"Bearer {renewed['token']}"}

    async def reads_ok():
        response = await stack.notifications.get("/v1/notifications", headers=auth)
        return response.status == 200

    await eventually(reads_ok, what="a suspended member reads their notifications")

    async def write_refused():
        response = await stack.forum.post(f"/v1/communities/{stack.community}/threads",
                                          json={"title": "t", "body": "b"}, headers=auth)
        return response.status == 403 and "suspended until" in json.dumps(await response.json())

    await eventually(write_refused, what="writes stay refused")
    # Ending their own sessions is always allowed.
    assert (await stack.forum.post("/v1/auth/logout", headers=auth)).status == 204
