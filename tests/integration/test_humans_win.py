"""Issue 24, item 3: an automated decision never overrides a human action on the same or an older version.

Decisions (``moderation.decisions``) and actions (``moderation.actions``) travel on different
topics, so forum can receive the machine's decision for a version after a moderator's action on
it. These tests run forum (and notifications) on real PostgreSQL and Kafka without moderation and
put moderation's events on the topics themselves, in the order that used to go wrong.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer

from services.common.envelope import Event
from services.common.topics import MODERATION_ACTIONS, MODERATION_DECISIONS
from tests.support.stack import Isolation, Stack, User, start_stack
from tests.support.waiting import eventually


@pytest.fixture
async def forum_stack(isolation: Isolation):
    async with start_stack(isolation, without=("moderation",)) as stack:
        yield stack


async def _send(stack: Stack, topic: str, event: Event) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.isolation.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(stack.isolation.topic_prefix + topic, event.to_json(), key=event.key.encode())
    finally:
        await producer.stop()

    async def consumed() -> bool:
        return bool(await stack.db.fetchval("SELECT count(*) FROM forum.inbox WHERE event_id = $1",
                                            uuid.UUID(event.id)))

    await eventually(consumed, what=f"{event.type} consumed by forum")


def _decision(post_id: str, author: User, version: int, outcome: str) -> Event:
    return Event.create("decision.made", key=post_id, producer="moderation", data={
        "decision_id": str(uuid.uuid4()), "post_id": post_id, "version": version, "author_id": author.id,
        "community": "general", "outcome": outcome, "reasons": [] if outcome == "published" else [
            {"code": "abuse", "score": 0.9}], "scores": {}, "policy_version": "test", "model": "test"})


def _action(action: str, post_id: str, author: User, version: int, moderator: User, **extra) -> Event:
    return Event.create("action.taken", key=author.id, producer="moderation", data={
        "action_id": str(uuid.uuid4()), "action": action, "user_id": author.id, "post_id": post_id,
        "post_version": version, "moderator_id": moderator.id, "reason": "harassment", **extra})


async def _post(stack: Stack, viewer: User, post_id: str) -> dict | None:
    response = await stack.forum.get(f"/v1/posts/{post_id}", headers=viewer.auth)
    return (await response.json())["post"] if response.status == 200 else None


async def test_a_late_decision_never_undoes_a_moderators_removal(forum_stack: Stack) -> None:
    stack = forum_stack
    author, reader, moderator = await stack.register(), await stack.register(), await stack.staff("moderator")
    post_id = (await stack.start_thread(author, "a post the machine is slow to judge"))["post"]["id"]

    await _send(stack, MODERATION_ACTIONS, _action("remove", post_id, author, 1, moderator))
    assert (await _post(stack, author, post_id))["status"] == "removed"
    await _send(stack, MODERATION_DECISIONS, _decision(post_id, author, 1, "published"))
    assert (await _post(stack, author, post_id))["status"] == "removed", "the machine undid a human removal"
    assert await _post(stack, reader, post_id) is None


async def test_a_late_decision_never_undoes_an_approval_or_a_redaction(forum_stack: Stack) -> None:
    stack = forum_stack
    author, reader, moderator = await stack.register(), await stack.register(), await stack.staff("moderator")
    approved = (await stack.start_thread(author, "approved by a person first"))["post"]["id"]
    redacted = (await stack.start_thread(author, "call me at 617-555-0123"))["post"]["id"]

    await _send(stack, MODERATION_ACTIONS, _action("approve", approved, author, 1, moderator))
    await _send(stack, MODERATION_ACTIONS, _action("redact", redacted, author, 1, moderator,
                                                   redacted_body="call me at [phone removed]"))
    for post_id in (approved, redacted):
        assert (await _post(stack, reader, post_id))["status"] == "published"
        await _send(stack, MODERATION_DECISIONS, _decision(post_id, author, 1, "held"))
        assert (await _post(stack, reader, post_id))["status"] == "published", "the machine undid a human verdict"
    assert (await _post(stack, reader, redacted))["body"] == "call me at [phone removed]"


async def test_a_decision_on_a_newer_version_still_applies(forum_stack: Stack) -> None:
    stack = forum_stack
    author, reader, moderator = await stack.register(), await stack.register(), await stack.staff("moderator")
    post_id = (await stack.start_thread(author, "first version"))["post"]["id"]
    await _send(stack, MODERATION_ACTIONS, _action("approve", post_id, author, 1, moderator))
    assert (await _post(stack, reader, post_id))["status"] == "published"

    edited = await stack.forum.patch(f"/v1/posts/{post_id}", json={"body": "second version, now nasty"},
                                     headers=author.auth)
    assert edited.status == 200 and (await edited.json())["post"]["version"] == 2
    await _send(stack, MODERATION_DECISIONS, _decision(post_id, author, 2, "held"))
    post = await _post(stack, author, post_id)
    assert (post["status"], post["version"]) == ("held", 2)
    assert await _post(stack, reader, post_id) is None
    # ...and the machine's verdict on version 1 (late) still changes nothing.
    await _send(stack, MODERATION_DECISIONS, _decision(post_id, author, 1, "published"))
    assert (await _post(stack, author, post_id))["status"] == "held"
