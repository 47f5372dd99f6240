"""The moderators' review queue end to end: claims, actions, appeals, reports, suspensions, audit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from tests.support.stack import Isolation, Stack, User, start_stack
from tests.support.waiting import eventually


@pytest.fixture
async def review_stack(isolation: Isolation):
    # Test accounts are minutes old: count them as ordinary reporters, not new ones.
    async with start_stack(isolation, REPORT_NEW_ACCOUNT_HOURS="0") as stack:
        yield stack


async def _held_item(stack: Stack, author: User, moderator: User, body: str = "you are an idiot") -> tuple[str, str]:
    created = await stack.start_thread(author, body)
    post_id = created["post"]["id"]

    async def item_id():
        listing = await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json()
        return next((i["id"] for i in listing["items"] if i["post_id"] == post_id), None)

    return post_id, await eventually(item_id, what="the held post in the queue")


async def _act(stack: Stack, moderator: User, item_id: str, **body) -> tuple[int, dict]:
    response = await stack.moderation.post(f"/v1/queue/{item_id}/actions", json=body, headers=moderator.auth)
    return response.status, await response.json()


async def test_two_moderators_race_for_one_item(review_stack: Stack) -> None:
    stack = review_stack
    author = await stack.register()
    first, second = await stack.staff("moderator"), await stack.staff("moderator")
    _, item_id = await _held_item(stack, author, first)

    responses = await asyncio.gather(*(stack.moderation.post(f"/v1/queue/{item_id}/claim", headers=m.auth)
                                       for m in (first, second)))
    assert sorted(r.status for r in responses) == [200, 409]
    winner, loser = (first, second) if responses[0].status == 200 else (second, first)
    status, _ = await _act(stack, loser, item_id, action="approve")
    assert status == 409, "acting on an item someone else holds must fail"

    # The claim expires (10 minutes by default): simulate the clock passing, then take it over.
    await stack.db.execute("UPDATE moderation.queue_items SET claimed_until = now() - interval '1 second' "
                           "WHERE id = $1", uuid.UUID(item_id))
    taken = await stack.moderation.post(f"/v1/queue/{item_id}/claim", headers=loser.auth)
    assert taken.status == 200 and (await taken.json())["claimed_by"] == loser.id
    status, item = await _act(stack, loser, item_id, action="approve")
    assert status == 200 and item["status"] == "resolved" and item["claimed_by"] is None


async def test_remove_appeal_approve_with_a_full_audit_trail(review_stack: Stack) -> None:
    stack = review_stack
    author, reader = await stack.register(), await stack.register()
    moderator, admin = await stack.staff("moderator"), await stack.staff("admin")
    post_id, item_id = await _held_item(stack, author, moderator)

    assert (await stack.moderation.post(f"/v1/queue/{item_id}/claim", headers=moderator.auth)).status == 200
    status, _ = await _act(stack, moderator, item_id, action="remove", reason="nonsense")
    assert status == 400
    status, item = await _act(stack, moderator, item_id, action="remove", reason="harassment",
                              message="Please keep replies kind; name-calling hurts people here.")
    assert status == 200 and item["resolution"] == "removed"
    await eventually(lambda: stack.has_status(author, post_id, "removed"), what="post removed in forum")
    assert await stack.post_status(reader, post_id) is None

    async def removal_notice():
        return [n for n in await stack.notifications_of(author) if n["type"] == "post.removed"]

    (notice,) = await eventually(removal_notice, what="author told of the removal")
    assert notice["data"]["reason"] == "harassment" and notice["data"]["appeal"] is True

    appeal = await stack.forum.post(f"/v1/posts/{post_id}/appeal", json={"note": "I was quoting someone"},
                                    headers=author.auth)
    assert appeal.status == 201
    again = await stack.forum.post(f"/v1/posts/{post_id}/appeal", json={"note": "again"}, headers=author.auth)
    assert again.status == 409, "a removal can be appealed once"
    assert (await stack.forum.post(f"/v1/posts/{post_id}/appeal", json={}, headers=reader.auth)).status == 404

    async def reopened():
        detail = await (await stack.moderation.get(f"/v1/queue/{item_id}", headers=moderator.auth)).json()
        return detail if detail["status"] == "open" and detail["appeals"] else None

    detail = await eventually(reopened, what="the appeal back in the queue")
    await eventually(lambda: _has_notice(stack, moderator, "queue.appeal"), what="moderators told of the appeal")
    contested = detail["appeals"][0]["contested"]
    assert contested["decision"]["outcome"] == "held" and contested["removal"]["reason"] == "harassment"
    assert detail["appeals"][0]["note"] == "I was quoting someone"

    assert (await stack.moderation.post(f"/v1/queue/{item_id}/claim", headers=moderator.auth)).status == 200
    status, _ = await _act(stack, moderator, item_id, action="approve", reason="appeal upheld")
    assert status == 200
    await eventually(lambda: stack.has_status(reader, post_id, "published"), what="post visible again")
    await eventually(lambda: _has_notice(stack, author, "post.restored"), what="author told of the restore")

    audit = await (await stack.moderation.get(f"/v1/audit?subject=post:{post_id}", headers=admin.auth)).json()
    assert [e["action"] for e in audit["items"]] == [
        "queue.claim", "queue.remove", "queue.appeal", "queue.claim", "queue.approve"]
    assert audit["items"][1]["actor_id"] == moderator.id and audit["items"][1]["reason"] == "harassment"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await stack.db.execute("UPDATE moderation.audit_log SET reason = 'tampered'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await stack.db.execute("DELETE FROM moderation.audit_log")
    assert (await stack.moderation.get("/v1/audit", headers=moderator.auth)).status == 403


async def test_weighted_reports_hide_a_post_and_keep_their_snapshot(review_stack: Stack) -> None:
    stack = review_stack
    author, other = await stack.register(), await stack.register()
    reporters = [await stack.register() for _ in range(3)]
    moderator = await stack.staff("moderator")
    # Published by moderation (nothing in it for a detector), then reported by members all the same.
    original = "the Thursday meeting is a waste of time lately, too much cross-talk"
    created = await stack.start_thread(author, original)
    post_id = created["post"]["id"]
    await eventually(lambda: stack.has_status(other, post_id, "published"), what="published")
    url = f"/v1/posts/{post_id}/reports"

    for reporter in (reporters[0], reporters[0], reporters[1]):  # one account twice: counts once
        response = await stack.forum.post(url, json={"reason": "sourcing"}, headers=reporter.auth)
        assert response.status in (200, 201)

    async def report_weight() -> float:
        return await stack.db.fetchval("SELECT coalesce(sum(weight), 0) FROM moderation.reports WHERE post_id = $1",
                                       uuid.UUID(post_id))

    await eventually(lambda: _equals(report_weight(), 2.0), what="two reports weighed")
    assert await stack.post_status(other, post_id) == "published", "two ordinary reporters must not hide a post"

    assert (await stack.forum.post(url, json={"reason": "sourcing"}, headers=reporters[2].auth)).status == 201
    await eventually(lambda: stack.has_status(author, post_id, "held"), what="hidden after the third report")
    assert await stack.post_status(other, post_id) is None
    await eventually(lambda: _has_notice(stack, moderator, "queue.report_threshold"), what="moderators told")

    edited = await stack.forum.patch(f"/v1/posts/{post_id}", json={"body": "never mind"}, headers=author.auth)
    assert edited.status == 200

    async def item_after_edit():
        listing = await (await stack.moderation.get("/v1/queue?reason=report", headers=moderator.auth)).json()
        item = next(i for i in listing["items"] if i["post_id"] == post_id)
        detail = await (await stack.moderation.get(f"/v1/queue/{item['id']}", headers=moderator.auth)).json()
        return detail if detail["post"]["version"] == 2 else None

    detail = await eventually(item_after_edit, what="moderation sees the edit")
    assert [r["body_snapshot"] for r in detail["reports"]] == [original, original, original]
    assert [h["body"] for h in detail["history"]] == [original, "never mind"]
    assert detail["hidden_by_reports"] is True and detail["report_weight"] == 3.0


async def test_suspension_blocks_posting_until_it_ends_and_steps_up(review_stack: Stack) -> None:
    stack = review_stack
    member, repeat = await stack.register(), await stack.register()
    moderator = await stack.staff("moderator")
    _, item_id = await _held_item(stack, member, moderator)
    status, _ = await _act(stack, moderator, item_id, action="suspend", duration_hours=0.001, reason="abuse")
    assert status == 200

    async def blocked() -> bool:
        response = await stack.forum.post("/v1/communities/general/threads", json={"title": "t", "body": "hello"},
                                          headers=member.auth)
        return response.status == 403

    await eventually(blocked, what="suspension applied in forum")

    async def allowed_again() -> bool:
        response = await stack.forum.post("/v1/communities/general/threads", json={"title": "t", "body": "back"},
                                          headers=member.auth)
        return response.status == 201

    await eventually(allowed_again, timeout=20, interval=0.5, what="posting allowed once the suspension ends")

    _, item_id = await _held_item(stack, repeat, moderator, body="you stupid loser")
    _, first = await _act(stack, moderator, item_id, action="suspend")
    _, second = await _act(stack, moderator, item_id, action="suspend")
    now = datetime.now(timezone.utc)
    first_until = datetime.fromisoformat(first["author_record"]["suspended_until"])
    second_until = datetime.fromisoformat(second["author_record"]["suspended_until"])
    assert timedelta(hours=23) < first_until - now <= timedelta(days=1)
    assert timedelta(days=2, hours=23) < second_until - now <= timedelta(days=3)
    assert second["author_record"]["suspensions"] == 2


async def test_overdue_items_show_in_metrics(isolation: Isolation) -> None:
    async with start_stack(isolation, QUEUE_OVERDUE_SECONDS="60") as stack:
        author, moderator = await stack.register(), await stack.staff("moderator")
        _, item_id = await _held_item(stack, author, moderator)
        await stack.db.execute("UPDATE moderation.queue_items SET created_at = now() - interval '2 minutes' "
                               "WHERE id = $1", uuid.UUID(item_id))  # the clock moving on, simulated

        async def overdue_in_metrics() -> bool:
            text = await (await stack.moderation.get("/metrics")).text()
            return "haven_review_queue_overdue 1.0" in text and "haven_review_queue_open 1.0" in text

        await eventually(overdue_in_metrics, timeout=20, what="the overdue item in /metrics")
        listing = await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json()
        assert [i["overdue"] for i in listing["items"]] == [True]


async def test_queue_filters_and_cursor_pagination(review_stack: Stack) -> None:
    stack = review_stack
    moderator = await stack.staff("moderator")
    authors = [await stack.register() for _ in range(3)]
    posts = [await _held_item(stack, a, moderator, body=f"you idiot number {n}") for n, a in enumerate(authors)]
    crisis_author = await stack.register()
    crisis = await stack.start_thread(crisis_author, "I have the pills ready and I'm taking all of them tonight")

    async def everything():
        listing = await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json()
        return listing["items"] if len(listing["items"]) == 4 else None

    items = await eventually(everything, what="four items")
    assert items[0]["post_id"] == crisis["post"]["id"], "crisis comes first"
    seen, cursor = [], None
    while True:
        query = "/v1/queue?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await stack.moderation.get(query, headers=moderator.auth)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [i["id"] for i in items], "cursor pages are the list, in order, without gaps or repeats"
    abuse = await (await stack.moderation.get("/v1/queue?reason=abuse", headers=moderator.auth)).json()
    assert sorted(i["post_id"] for i in abuse["items"]) == sorted(p for p, _ in posts)
    assert (await stack.moderation.get("/v1/queue?cursor=garbage", headers=moderator.auth)).status == 400
    elsewhere = await (await stack.moderation.get("/v1/queue?community=elsewhere", headers=moderator.auth)).json()
    assert elsewhere["items"] == []


async def _has_notice(stack: Stack, user: User, kind: str) -> bool:
    return any(n["type"] == kind for n in await stack.notifications_of(user))


async def _equals(value, expected) -> bool:
    return await value == expected
