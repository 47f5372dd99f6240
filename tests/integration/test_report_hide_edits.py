"""Issue 24, item 4: a post hidden by members' reports stays hidden until a moderator decides.

Editing it used to make it pending, and the next automated decision published it again (53 ms
after the author changed one word, on a running stack). Now the hide survives edits and
automated decisions; only a human action (approve, dismiss, remove, redact) clears it. Reports
count per post, so reports filed after an edit still add up to the threshold.
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.stack import Isolation, Stack, User, start_stack
from tests.support.waiting import eventually, holds_for

BENIGN = "the Thursday meeting is a waste of time lately, too much cross-talk"


@pytest.fixture
async def review_stack(isolation: Isolation):
    # Test accounts are minutes old: count them as ordinary reporters (weight 1, threshold 3).
    async with start_stack(isolation, REPORT_NEW_ACCOUNT_HOURS="0") as stack:
        yield stack


async def _published_post(stack: Stack, author: User, other: User, body: str = BENIGN) -> str:
    post_id = (await stack.start_thread(author, body))["post"]["id"]
    await eventually(lambda: stack.has_status(other, post_id, "published"), what="published")
    return post_id


async def _report(stack: Stack, reporter: User, post_id: str) -> None:
    response = await stack.forum.post(f"/v1/posts/{post_id}/reports", json={"reason": "harassment"},
                                      headers=reporter.auth)
    assert response.status == 201, await response.text()


async def _edit(stack: Stack, author: User, post_id: str, body: str) -> int:
    response = await stack.forum.patch(f"/v1/posts/{post_id}", json={"body": body}, headers=author.auth)
    assert response.status == 200, await response.text()
    return (await response.json())["post"]["version"]


async def _decided(stack: Stack, post_id: str, version: int) -> bool:
    """Forum has applied moderation's automated decision for this version."""
    return await stack.db.fetchval("SELECT decided_version FROM forum.posts WHERE id = $1",
                                   uuid.UUID(post_id)) == version


async def _item(stack: Stack, moderator: User, post_id: str) -> dict | None:
    listing = await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json()
    return next((i for i in listing["items"] if i["post_id"] == post_id), None)


async def test_an_edit_does_not_unhide_a_reported_post(review_stack: Stack) -> None:
    stack = review_stack
    author, other, moderator = await stack.register(), await stack.register(), await stack.staff("moderator")
    post_id = await _published_post(stack, author, other)
    for _ in range(3):
        await _report(stack, await stack.register(), post_id)
    await eventually(lambda: stack.has_status(author, post_id, "held"), what="hidden by three reports")

    for n, body in enumerate(("the Thursday meeting is a waste of time lately, too much crosstalk",
                              "never mind"), start=2):
        assert await _edit(stack, author, post_id, body) == n
        await eventually(lambda v=n: _decided(stack, post_id, v), what=f"the automated decision on version {n}")
        assert await stack.post_status(other, post_id) is None, "an edit un-hid a post hidden by reports"
        assert await stack.post_status(author, post_id) == "held"
    item = await eventually(lambda: _item(stack, moderator, post_id), what="the case")
    assert item["status"] == "open" and item["hidden_by_reports"] is True

    # A moderator's decision is what makes it visible again.
    response = await stack.moderation.post(f"/v1/queue/{item['id']}/actions", json={"action": "approve"},
                                           headers=moderator.auth)
    assert response.status == 200
    await eventually(lambda: stack.has_status(other, post_id, "published"), what="visible after approval")


async def test_reports_after_an_edit_still_count(review_stack: Stack) -> None:
    stack = review_stack
    author, other = await stack.register(), await stack.register()
    post_id = await _published_post(stack, author, other)
    for _ in range(2):
        await _report(stack, await stack.register(), post_id)
    await eventually(lambda: _weight(stack, post_id, 2.0), what="two reports weighed")

    assert await _edit(stack, author, post_id, "the Thursday meeting is great") == 2
    await eventually(lambda: stack.has_status(other, post_id, "published"), what="version 2 published")
    await _report(stack, await stack.register(), post_id)
    await eventually(lambda: stack.has_status(author, post_id, "held"), what="hidden by the third report")
    await holds_for(lambda: _hidden_from(stack, other, post_id), seconds=1.0, what="hidden from other members")


async def test_a_dismissal_restores_it_and_the_hide_starts_over(review_stack: Stack) -> None:
    stack = review_stack
    author, other, moderator = await stack.register(), await stack.register(), await stack.staff("moderator")
    post_id = await _published_post(stack, author, other)
    for _ in range(3):
        await _report(stack, await stack.register(), post_id)
    await eventually(lambda: stack.has_status(author, post_id, "held"), what="hidden by three reports")
    item = await eventually(lambda: _item(stack, moderator, post_id), what="the case")
    response = await stack.moderation.post(f"/v1/queue/{item['id']}/actions", json={"action": "dismiss"},
                                           headers=moderator.auth)
    assert response.status == 200
    await eventually(lambda: stack.has_status(other, post_id, "published"), what="restored by the dismissal")
    # Edited after the dismissal: published again by the machine, no hide left over.
    assert await _edit(stack, author, post_id, "the Thursday meeting is fine really") == 2
    await eventually(lambda: stack.has_status(other, post_id, "published"), what="version 2 published")


async def _weight(stack: Stack, post_id: str, expected: float) -> bool:
    return await stack.db.fetchval("SELECT coalesce(sum(weight), 0) FROM moderation.reports WHERE post_id = $1",
                                   uuid.UUID(post_id)) == expected


async def _hidden_from(stack: Stack, viewer: User, post_id: str) -> bool:
    return await stack.post_status(viewer, post_id) is None
