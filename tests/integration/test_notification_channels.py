"""Notifications reach people: live push with resume across instances, signed webhooks with
retries, e-mail over a real SMTP server, preferences and the crisis rota."""

from __future__ import annotations

import json
import socket

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from services.notifications.delivery import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from tests.support.sse import read_events
from tests.support.stack import Isolation, Stack, User, build_app, start_client, start_stack
from tests.support.waiting import eventually, holds_for

CRISIS = "I have the pills ready and I'm taking all of them tonight"


async def _crisis_post(stack: Stack) -> str:
    author = await stack.register()
    return (await stack.start_thread(author, CRISIS))["post"]["id"]


async def _crisis_notices(stack: Stack, staff: User) -> list[dict]:
    return [n for n in await stack.notifications_of(staff) if n["type"] == "crisis.escalation"]


async def test_live_push_and_resume_without_gaps_on_another_instance(isolation: Isolation) -> None:
    async with start_stack(isolation, SSE_HEARTBEAT_SECONDS="1") as stack:
        staff = await stack.staff("crisis_staff")
        other_instance = await start_client(build_app("notifications", isolation.env(SSE_HEARTBEAT_SECONDS="1")))
        try:
            response = await stack.notifications.get("/v1/stream", headers=staff.auth)
            assert response.status == 200 and response.content_type == "text/event-stream"
            first_post = await _crisis_post(stack)
            (event,) = await read_events(response, 1, timeout=20)
            assert event.event == "crisis.escalation" and json.loads(event.data)["data"]["post_id"] == first_post
            response.close()  # the crisis worker's connection drops

            missed_posts = [await _crisis_post(stack), await _crisis_post(stack)]
            missed = await eventually(lambda: _at_least(_crisis_notices(stack, staff), 3), what="two more escalations")
            expected = sorted(n["seq"] for n in missed if n["data"]["post_id"] in missed_posts)

            # Reconnect to ANOTHER instance behind the "load balancer", resuming from the last id seen.
            resumed = await other_instance.get("/v1/stream", headers={**staff.auth, "Last-Event-ID": event.id})
            replay = await read_events(resumed, 2, timeout=20)
            assert [int(e.id) for e in replay] == expected, "exactly the missed events, in order"
            live_post = await _crisis_post(stack)
            (live,) = await read_events(resumed, 1, timeout=20)
            assert json.loads(live.data)["data"]["post_id"] == live_post and int(live.id) > expected[-1]
            resumed.close()
        finally:
            await other_instance.close()


async def test_signed_webhook_lands_on_the_third_attempt(isolation: Isolation) -> None:
    received: list[tuple[dict, bytes]] = []

    async def receiver(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((dict(request.headers), body))
        return web.Response(status=500 if len(received) <= 2 else 200)

    app = web.Application()
    app.router.add_post("/pager", receiver)
    server = await start_client(app)
    try:
        async with start_stack(isolation, DELIVERY_BACKOFF_SECONDS="0.1") as stack:
            admin = await stack.staff("admin")
            created = await stack.notifications.post("/v1/webhooks", headers=admin.auth, json={
                "url": str(server.make_url("/pager")), "role": "crisis_staff"})
            assert created.status == 201
            endpoint = await created.json()
            await _crisis_post(stack)
            await eventually(lambda: _count(received, 3), timeout=30, what="three delivery attempts")
            headers, body = received[-1]
            assert verify(endpoint["secret"], headers[SIGNATURE_HEADER], body), "signature must verify"
            assert not verify("another secret", headers[SIGNATURE_HEADER], body)
            assert len({h[DELIVERY_HEADER] for h, _ in received}) == 1, "retries carry the same delivery id"
            payload = json.loads(body)
            assert [n["type"] for n in payload["notifications"]] == ["crisis.escalation"]
            assert CRISIS not in body.decode(), "crisis webhooks carry no post text"

            async def logged():
                log = await (await stack.notifications.get(f"/v1/webhooks/{endpoint['id']}/deliveries",
                                                           headers=admin.auth)).json()
                return log["items"] if log["items"] and log["items"][0]["status"] == "sent" else None

            (delivery,) = await eventually(logged, what="the delivery log")
            assert [a["ok"] for a in delivery["attempt_log"]] == [False, False, True]
            assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 200]
    finally:
        await server.close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = _Inbox()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_email_preferences_and_the_rota(isolation: Isolation, smtp_server) -> None:
    inbox, port = smtp_server
    async with start_stack(isolation, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port)) as stack:
        staff, admin = await stack.staff("crisis_staff"), await stack.staff("admin")
        quiet_member, member = await stack.register(), await stack.register()
        put = await stack.notifications.put("/v1/preferences", headers=staff.auth, json={"email": "alex@example.org"})
        assert put.status == 200
        rota = await stack.notifications.put(f"/v1/rota/{staff.id}", headers=admin.auth, json={"tier": 1})
        assert rota.status == 200
        refused = await stack.notifications.put("/v1/preferences", headers=staff.auth,
                                                json={"email": "alex@example.org", "channels": {"crisis": []}})
        assert refused.status == 409, "crisis paging cannot be turned off while on the rota"
        assert (await stack.notifications.put(f"/v1/rota/{staff.id}", headers=staff.auth, json={})).status == 403

        await _crisis_post(stack)
        paged = await eventually(lambda: _mail_to(inbox, "alex@example.org"), timeout=30, what="the page by e-mail")
        assert "an escalation needs you" in paged[0].lower() and CRISIS not in paged[0]

        for user, channels in ((member, {}), (quiet_member, {"post": []})):
            response = await stack.notifications.put("/v1/preferences", headers=user.auth,
                                                     json={"email": f"{user.handle}@example.org", "channels": channels})
            assert response.status == 200
        for user in (member, quiet_member):
            await stack.start_thread(user, "you are an idiot")
        await eventually(lambda: _mail_to(inbox, f"{member.handle}@example.org"), timeout=30, what="held e-mail")
        await eventually(lambda: _has(stack, quiet_member, "post.held"), what="in-app notice still stored")

        async def nothing_for_quiet_member() -> bool:
            return not await _mail_to(inbox, f"{quiet_member.handle}@example.org")

        await holds_for(nothing_for_quiet_member, seconds=2, what="no e-mail for a switched-off category")
        unread = await (await stack.notifications.get("/v1/notifications/unread-count", headers=member.auth)).json()
        assert unread["unread"] == 1
        marked = await stack.notifications.post("/v1/notifications/read-all", headers=member.auth)
        assert (await marked.json())["unread"] == 0


async def _mail_to(inbox: _Inbox, address: str) -> list[str]:
    return [content for recipients, content in inbox.messages if address in recipients]


async def _has(stack: Stack, user: User, kind: str) -> bool:
    return any(n["type"] == kind for n in await stack.notifications_of(user))


async def _count(items: list, n: int) -> bool:
    return len(items) >= n


async def _at_least(awaitable, n: int):
    items = await awaitable
    return items if len(items) >= n else None


async def test_replies_and_support_reactions_reach_the_author(stack: Stack) -> None:
    author, friend = await stack.register(), await stack.register()
    opening = await stack.start_thread(author, "Thirty days today. Scared and proud.")
    post_id = opening["post"]["id"]
    await eventually(lambda: stack.has_status(friend, post_id, "published"), what="published")
    reply = await stack.forum.post(f"/v1/threads/{opening['thread']['id']}/posts",
                                   json={"body": "So proud of you. One day at a time."}, headers=friend.auth)
    assert reply.status == 201
    for _ in range(2):  # one reaction per kind per member: the second is not news
        reacted = await stack.forum.post(f"/v1/posts/{post_id}/reactions", json={"kind": "support"},
                                         headers=friend.auth)
        assert reacted.status in (200, 201) and (await reacted.json())["reactions"] == {"support": 1}
    bad = await stack.forum.post(f"/v1/posts/{post_id}/reactions", json={"kind": "angry"}, headers=friend.auth)
    assert bad.status == 400

    async def activity():
        kinds = sorted(n["type"] for n in await stack.notifications_of(author) if n["category"] == "activity")
        return kinds if len(kinds) >= 2 else None

    assert await eventually(activity, what="reply and reaction notices") == ["reaction.added", "reply.published"]
    assert not [n for n in await stack.notifications_of(friend) if n["category"] == "activity"]
