"""The whole post → moderation → notification path on real PostgreSQL and Kafka."""

from __future__ import annotations

import base64
import json
import uuid

from aiokafka import AIOKafkaProducer

from services.common.envelope import Event
from services.common.topics import FORUM_POSTS, MODERATION_DECISIONS, dlq
from tests.support.chaos import CONSUMERS
from tests.support.stack import Stack
from tests.support.topics import read_topic
from tests.support.waiting import eventually

CRISIS = "I have the pills ready and I'm taking all of them tonight"


async def test_member_post_is_published_and_visible_to_others(stack: Stack) -> None:
    author, reader = await stack.register(), await stack.register()
    created = await stack.start_thread(author, "Ninety days sober today. Thank you all for the support.")
    post_id = created["post"]["id"]
    assert created["post"]["status"] == "pending"
    # Pending: the author sees it at once, nobody else does.
    assert await stack.post_status(author, post_id) == "pending"
    assert await stack.post_status(reader, post_id) is None

    await eventually(lambda: stack.post_status(reader, post_id), what="post visible to another member")
    assert await stack.post_status(reader, post_id) == "published"
    thread = await (await stack.forum.get(f"/v1/threads/{created['thread']['id']}", headers=reader.auth)).json()
    assert [p["id"] for p in thread["posts"]] == [post_id]
    assert await stack.notifications_of(author) == []  # nothing to tell about a published post


async def test_flagged_post_is_held_hidden_notified_and_queued(stack: Stack) -> None:
    author, reader = await stack.register(), await stack.register()
    moderator = await stack.staff("moderator")
    opening = await stack.start_thread(author, "Welcome, everyone.")
    await eventually(lambda: stack.has_status(reader, opening["post"]["id"], "published"), what="opening post published")

    response = await stack.forum.post(f"/v1/threads/{opening['thread']['id']}/posts",
                                      json={"body": "you are an idiot"}, headers=reader.auth)
    assert response.status == 201
    post_id = (await response.json())["post"]["id"]

    await eventually(lambda: stack.has_status(reader, post_id, "held"), what="abusive reply held")
    assert await stack.post_status(author, post_id) is None  # invisible to other members
    notes = await eventually(lambda: stack.notifications_of(reader), what="author notified")
    assert [(n["type"], n["data"]["post_id"]) for n in notes] == [("post.held", post_id)]
    assert "abuse" in notes[0]["data"]["reasons"]

    queue = await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json()
    assert [item["post_id"] for item in queue["items"]] == [post_id]
    assert queue["items"][0]["reasons"][0]["evidence"].startswith("toxicity=")
    moderator_notes = await stack.notifications_of(moderator)
    assert [n["type"] for n in moderator_notes] == ["queue.item_held"]


async def test_swearing_without_a_target_is_published(stack: Stack) -> None:
    author = await stack.register()
    created = await stack.start_thread(author, "stupid stupid craving, one more day anyway")
    post_id = created["post"]["id"]
    await eventually(lambda: stack.is_decided(author, post_id), what="decision")
    assert await stack.post_status(author, post_id) == "published"


async def test_crisis_post_escalates_and_author_still_sees_it(stack: Stack) -> None:
    author = await stack.register()
    crisis_worker = await stack.staff("crisis_staff")
    member = await stack.register()
    created = await stack.start_thread(author, CRISIS, title="tonight")
    post_id = created["post"]["id"]

    async def escalations():
        body = await (await stack.moderation.get("/v1/escalations", headers=crisis_worker.auth)).json()
        return body["items"]

    items = await eventually(escalations, what="escalation visible to crisis staff")
    assert [(i["post_id"], i["level"], i["status"]) for i in items] == [(post_id, "imminent", "open")]
    staff_notes = await eventually(lambda: stack.notifications_of(crisis_worker), what="crisis staff notified")
    assert [n["type"] for n in staff_notes] == ["crisis.escalation"]
    assert "body" not in json.dumps(staff_notes[0]["data"]) and CRISIS not in json.dumps(staff_notes)

    author_notes = await eventually(lambda: stack.notifications_of(author), what="author gets resources")
    support = [n for n in author_notes if n["type"] == "support.resources"]
    assert support and "988" in support[0]["data"]["crisis_line"] and "emergency" in support[0]["data"]
    # Never removed for being a cry for help: the author still sees it (held for method detail).
    await eventually(lambda: stack.is_decided(author, post_id), what="decision")
    assert await stack.post_status(author, post_id) == "held"
    assert await stack.post_status(member, post_id) is None
    # Other roles cannot read the crisis feed.
    assert (await stack.moderation.get("/v1/escalations", headers=member.auth)).status == 403
    assert (await stack.moderation.get("/v1/escalations")).status == 401


async def test_the_same_event_delivered_twice_is_applied_once(stack: Stack) -> None:
    author = await stack.register()
    created = await stack.start_thread(author, "you stupid loser")
    post_id = created["post"]["id"]
    await eventually(lambda: stack.has_status(author, post_id, "held"), what="held")
    await eventually(lambda: stack.notifications_of(author), what="author notified")

    topics = stack.isolation.topic_prefix
    post_event = await _read_event(stack, topics + FORUM_POSTS, post_id)
    decision_event = await _read_event(stack, topics + MODERATION_DECISIONS, post_id)
    producer = AIOKafkaProducer(bootstrap_servers=stack.isolation.bootstrap_servers)
    await producer.start()
    try:
        for topic, event in ((FORUM_POSTS, post_event), (MODERATION_DECISIONS, decision_event)):
            await producer.send_and_wait(topics + topic, event.to_json(), key=event.key.encode())
        # A sweeper-style re-emission: the same post version under a NEW event id.
        again = Event(str(uuid.uuid4()), post_event.type, post_event.version, post_event.occurred_at, "forum",
                      post_event.trace_id, post_event.key, post_event.data)
        await producer.send_and_wait(topics + FORUM_POSTS, again.to_json(), key=again.key.encode())
    finally:
        await producer.stop()

    async def all_seen():
        # both moderation consumers of forum.posts (the decision worker, the crisis screen) saw both ids
        moderation = await stack.db.fetchval(
            "SELECT count(*) FROM moderation.inbox WHERE event_id IN ($1, $2)", uuid.UUID(post_event.id),
            uuid.UUID(again.id))
        duplicates = _consumer(stack.moderation_app, "moderation-posts").stats.duplicates
        screen_dups = _consumer(stack.moderation_app, "moderation-crisis").stats.duplicates
        forum_dups = _consumer(stack.forum_app, "forum-decisions").stats.duplicates
        notif_dups = _consumer(stack.notifications_app, "notifications-events").stats.duplicates
        return moderation == 4 and duplicates >= 1 and screen_dups >= 1 and forum_dups >= 2 and notif_dups >= 2

    await eventually(all_seen, what="re-deliveries processed")
    assert await stack.db.fetchval("SELECT count(*) FROM moderation.decisions WHERE post_id = $1",
                                   uuid.UUID(post_id)) == 1
    assert await stack.db.fetchval("SELECT count(*) FROM moderation.queue_items WHERE post_id = $1",
                                   uuid.UUID(post_id)) == 1
    notes = await stack.notifications_of(author)
    assert [n["type"] for n in notes] == ["post.held"]
    assert await stack.post_status(author, post_id) == "held"


async def test_malformed_message_goes_to_dlq_and_the_partition_moves_on(stack: Stack) -> None:
    topics = stack.isolation.topic_prefix
    author = await stack.register()
    first = await stack.start_thread(author, "checking in, day three")
    await eventually(lambda: stack.is_decided(author, first["post"]["id"]), what="first post decided")

    poison = [b"\xff\xfenot json", json.dumps({"id": str(uuid.uuid4()), "type": "post.created"}).encode()]
    producer = AIOKafkaProducer(bootstrap_servers=stack.isolation.bootstrap_servers)
    await producer.start()
    try:
        for value in poison:  # same key as the next post: same partition, in front of it
            await producer.send_and_wait(topics + FORUM_POSTS, value, key=b"poison", partition=0)
    finally:
        await producer.stop()
    second = await stack.start_thread(author, "day four, still here")
    await eventually(lambda: stack.is_decided(author, second["post"]["id"]), what="next good post decided")

    # Each consumer of forum.posts dead-letters each poison record once: the decision worker and the crisis screen.
    readers = CONSUMERS[FORUM_POSTS]
    dead = await read_topic(stack.isolation.bootstrap_servers, topics + dlq(FORUM_POSTS),
                            expected=len(poison) * len(readers))
    assert len(dead) == len(poison) * len(readers)
    assert sorted(base64.b64decode(json.loads(d)["original_b64"]) for d in dead) == sorted(poison * len(readers))
    assert sorted(json.loads(d)["consumer"] for d in dead) == sorted(list(readers) * len(poison))
    assert all("EventError" in json.loads(d)["error"] for d in dead)


# --- helpers -------------------------------------------------------------------------------


def _consumer(app, name: str | None = None):
    from services.common.consumer import ConsumerLoop

    loops = [value for value in app.values() if isinstance(value, ConsumerLoop) and name in (None, value.name)]
    assert len(loops) == 1
    return loops[0]


async def _read_event(stack: Stack, topic: str, post_id: str) -> Event:
    async def find() -> Event | None:
        values = await read_topic(stack.isolation.bootstrap_servers, topic, expected=10_000, timeout=1)
        events = [Event.from_json(v) for v in values]
        return next((e for e in events if e.data.get("post_id") == post_id), None)

    return await eventually(find, timeout=20, what=f"an event for {post_id} on {topic}")


async def test_logs_never_carry_post_bodies_or_passwords(stack: Stack, caplog) -> None:
    import logging

    from tests.support.stack import PASSWORD

    caplog.set_level(logging.DEBUG, logger="services")
    caplog.set_level(logging.INFO)
    author = await stack.register()
    body = f"a private detail only the author wrote {uuid.uuid4().hex}"
    created = await stack.start_thread(author, body, title="private title marker")
    crisis = await stack.start_thread(author, CRISIS + " " + uuid.uuid4().hex[:8])
    await eventually(lambda: stack.is_decided(author, created["post"]["id"]), what="decision")
    await eventually(lambda: stack.is_decided(author, crisis["post"]["id"]), what="crisis decision")
    await stack.forum.post("/v1/auth/login", json={"handle": author.handle, "password": "wrong password here"})
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records, "the flow logged nothing at all: the check would prove nothing"
    for secret in (body, "private title marker", CRISIS, PASSWORD, "wrong password here", author.token):
        assert secret not in logged
