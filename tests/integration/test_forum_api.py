"""forum's HTTP API: bad input gets a 4xx JSON error naming the field; auth; edits; reports."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from services.common.envelope import Event
from services.common.topics import MODERATION_DECISIONS
from tests.support.stack import PASSWORD, Stack
from tests.support.waiting import eventually


async def _error(response, status: int) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return (await response.json())["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "hello"}, "title"),
        ({"title": "hi"}, "body"),
        ({"title": 7, "body": "hello"}, "title"),
        ({"title": "hi", "body": ["not", "text"]}, "body"),
        ({"title": "hi", "body": "nul \x00 byte"}, "body"),
        ({"title": "hi", "body": "   "}, "body"),
        ({"title": "x" * 201, "body": "hello"}, "title"),
        ({"title": "hi", "body": "x" * 10001}, "body"),
    ],
)
async def test_bad_thread_input_names_the_field(stack: Stack, body: dict, field: str) -> None:
    member = await stack.register()
    response = await stack.forum.post("/v1/communities/general/threads", json=body, headers=member.auth)
    error = await _error(response, 400)
    assert error["field"] == field
    if len(str(body)) > 200:
        assert error["code"] == "too_long"


async def test_malformed_and_oversized_bodies_are_rejected_as_json(stack: Stack) -> None:
    member = await stack.register()
    url = "/v1/communities/general/threads"
    await _error(await stack.forum.post(url, data=b"{not json", headers=member.auth), 400)
    await _error(await stack.forum.post(url, data=b"[1, 2]", headers=member.auth), 400)
    await _error(await stack.forum.post(url, data=b"x" * (70 * 1024), headers=member.auth), 413)


async def test_unknown_community_thread_and_post_are_404(stack: Stack) -> None:
    member = await stack.register()
    error = await _error(await stack.forum.post("/v1/communities/nowhere/threads",
                                                json={"title": "hi", "body": "hello"}, headers=member.auth), 404)
    assert error["field"] == "slug"
    await _error(await stack.forum.get(f"/v1/threads/{uuid.uuid4()}", headers=member.auth), 404)
    await _error(await stack.forum.get("/v1/posts/not-a-uuid", headers=member.auth), 404)
    await _error(await stack.forum.post(f"/v1/threads/{uuid.uuid4()}/posts", json={"body": "hi"},
                                        headers=member.auth), 404)


async def test_every_endpoint_needs_a_valid_token(stack: Stack) -> None:
    member = await stack.register()
    for method, path in [("GET", "/v1/communities"), ("POST", "/v1/communities/general/threads"),
                         ("GET", f"/v1/posts/{uuid.uuid4()}"), ("PATCH", f"/v1/posts/{uuid.uuid4()}")]:
        await _error(await stack.forum.request(method, path, json={}), 401)
        await _error(await stack.forum.request(method, path, json={},
                                               headers={"Authorization": "Bearer not.a.token"}), 401)
    await _error(await stack.forum.post("/v1/communities", json={"slug": "x1", "name": "X"}, headers=member.auth), 403)
    await _error(await stack.moderation.get("/v1/queue", headers=member.auth), 403)
    await _error(await stack.notifications.get("/v1/notifications"), 401)


async def test_register_login_refresh(stack: Stack) -> None:
    member = await stack.register("river_test")
    await _error(await stack.forum.post("/v1/auth/register", json={"handle": "RIVER_test", "password": PASSWORD}),
                 409)
    error = await _error(await stack.forum.post("/v1/auth/register", json={"handle": "ok_handle", "password": "short"}),
                         400)
    assert error["field"] == "password"
    await _error(await stack.forum.post("/v1/auth/login", json={"handle": "river_test", "password": "wrong" * 3}), 401)
    await _error(await stack.forum.post("/v1/auth/login", json={"handle": "nobody_here", "password": PASSWORD}), 401)
    login = await stack.forum.post("/v1/auth/login", json={"handle": "river_test", "password": PASSWORD})
    session = await login.json()
    assert session["user"]["id"] == member.id and session["user"]["role"] == "member"
    refreshed = await stack.forum.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refreshed.status == 200
    new_token = (await refreshed.json())["token"]
    assert (await stack.forum.get("/v1/communities", headers={"Authorization": f"Bearer {new_token}"})).status == 200
    # A refresh token works once.
    await _error(await stack.forum.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}), 401)


async def test_login_attempts_are_rate_limited(stack: Stack) -> None:
    await stack.register("limited_one")
    statuses = []
    for _ in range(12):
        response = await stack.forum.post("/v1/auth/login", json={"handle": "limited_one", "password": "x" * 12})
        statuses.append(response.status)
        if response.status == 429:
            assert int(response.headers["Retry-After"]) >= 1
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]


async def test_edit_is_remoderated_and_a_stale_decision_never_overwrites_it(stack: Stack) -> None:
    author, other = await stack.register(), await stack.register()
    created = await stack.start_thread(author, "first version of my story")
    post_id = created["post"]["id"]
    await eventually(lambda: stack.has_status(other, post_id, "published"), what="v1 published")

    edited = await stack.forum.patch(f"/v1/posts/{post_id}", json={"body": "second version"}, headers=author.auth)
    assert edited.status == 200
    assert (await edited.json())["post"]["version"] == 2
    # Pending again: hidden from others, who therefore cannot even find it to edit.
    await _error(await stack.forum.patch(f"/v1/posts/{post_id}", json={"body": "mine now"}, headers=other.auth), 404)

    await eventually(lambda: stack.has_status(other, post_id, "published"), what="v2 published")
    # Then a decision for version 1 arrives late (new event id, so the inbox lets it through): ignored.
    stale = Event.create("decision.made", key=post_id, producer="moderation", data={
        "decision_id": str(uuid.uuid4()), "post_id": post_id, "version": 1, "author_id": author.id,
        "community": "general", "outcome": "removed", "reasons": [], "scores": {}, "policy_version": "x",
        "model": "x"})
    producer = AIOKafkaProducer(bootstrap_servers=stack.isolation.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(stack.isolation.topic_prefix + MODERATION_DECISIONS, stale.to_json(),
                                     key=post_id.encode())
    finally:
        await producer.stop()
    await eventually(lambda: _inbox_has(stack, stale.id), what="stale decision consumed")
    post = await (await stack.forum.get(f"/v1/posts/{post_id}", headers=other.auth)).json()
    assert (post["post"]["status"], post["post"]["version"], post["post"]["body"]) == ("published", 2, "second version")
    # Visible now, but still only its author may edit it.
    await _error(await stack.forum.patch(f"/v1/posts/{post_id}", json={"body": "mine now"}, headers=other.auth), 403)


async def test_reports_count_once_per_account(stack: Stack) -> None:
    author, reporter = await stack.register(), await stack.register()
    moderator = await stack.staff("moderator")
    created = await stack.start_thread(author, "a post someone dislikes")
    post_id = created["post"]["id"]
    await eventually(lambda: stack.has_status(reporter, post_id, "published"), what="published")
    url = f"/v1/posts/{post_id}/reports"
    first = await stack.forum.post(url, json={"reason": "harassment", "note": "rude"}, headers=reporter.auth)
    assert first.status == 201
    again = await stack.forum.post(url, json={"reason": "spam"}, headers=reporter.auth)
    assert again.status == 200 and (await again.json())["duplicate"] is True
    error = await _error(await stack.forum.post(url, json={"reason": "because"}, headers=reporter.auth), 400)
    assert error["field"] == "reason"
    await _error(await stack.forum.post(url, json={"reason": "spam"}, headers=author.auth), 400)

    async def queued():
        body = await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json()
        return [i for i in body["items"] if i["post_id"] == post_id]

    items = await eventually(queued, what="report in the queue")
    assert [r["code"] for r in items[0]["reasons"]] == ["report"]
    assert await stack.db.fetchval("SELECT count(*) FROM moderation.reports WHERE post_id = $1",
                                   uuid.UUID(post_id)) == 1


async def _inbox_has(stack: Stack, event_id: str) -> bool:
    return bool(await stack.db.fetchval("SELECT count(*) FROM forum.inbox WHERE event_id = $1",
                                        uuid.UUID(event_id)))


async def test_privacy_of_reasons_and_replies_to_hidden_threads(stack: Stack) -> None:
    author, other = await stack.register(), await stack.register()
    crisis_worker = await stack.staff("crisis_staff")
    watch = await stack.start_thread(author, "I just want to die some nights, honestly")
    post_id = watch["post"]["id"]
    await eventually(lambda: stack.has_status(other, post_id, "published"), what="watch-level post published")
    seen_by_other = (await (await stack.forum.get(f"/v1/posts/{post_id}", headers=other.auth)).json())["post"]
    assert seen_by_other["reasons"] == [], "a crisis assessment leaked to another member"
    seen_by_author = (await (await stack.forum.get(f"/v1/posts/{post_id}", headers=author.auth)).json())["post"]
    assert seen_by_author["reasons"] == []
    seen_by_staff = (await (await stack.forum.get(f"/v1/posts/{post_id}", headers=crisis_worker.auth)).json())["post"]
    # Two crisis assessments, the rules' and the crisis head's: staff see both, members neither.
    assert [r["code"] for r in seen_by_staff["reasons"]] == ["crisis", "crisis"]
    assert sorted(r["detector"].split("+")[0] for r in seen_by_staff["reasons"]) == ["all-MiniLM-L6-v2",
                                                                                     "crisis-rules-v3"]

    held = await stack.start_thread(author, "you are an idiot")
    await eventually(lambda: stack.has_status(author, held["post"]["id"], "held"), what="held")
    await _error(await stack.forum.post(f"/v1/threads/{held['thread']['id']}/posts", json={"body": "hi"},
                                        headers=other.auth), 404)


async def test_concurrent_posts_all_accepted(stack: Stack) -> None:
    members = [await stack.register() for _ in range(4)]
    results = await asyncio.gather(*(stack.start_thread(m, f"hello from {i}") for i, m in enumerate(members)))
    assert len({r["post"]["id"] for r in results}) == 4
