"""Escalations follow the post: an edit that makes a crisis worse upgrades the live escalation (and pages
again); after a resolved escalation a crisis in a newer version opens a new one, while a redelivered or
replayed event of a version already handled opens nothing; a moderator's escalate opens one after a resolved
one and raises a lower live one; concurrent callers leave exactly one live escalation per post."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.common.tokens import Principal
from services.common.topics import TopicNames
from services.moderation.escalations import EscalationDesk, open_escalation
from tests.support.stack import Isolation, Stack, User, start_stack
from tests.support.waiting import eventually, holds_for

WATCH = "I want to kill myself."
IMMINENT = "I took all my pills tonight, goodbye everyone."
HIGH = "I have been thinking about ending my life, I have a plan"
REPAGE_SECONDS = 2


# --- helpers ---------------------------------------------------------------------------------------------------


async def _escalations_of(stack: Stack, post_id: str) -> list[dict]:
    """Every escalation of the post, oldest first, as the database has them."""
    rows = await stack.db.fetch("SELECT id::text AS id, level, status, post_version FROM moderation.escalations "
                                "WHERE post_id = $1 ORDER BY opened_at", uuid.UUID(post_id))
    return [dict(r) for r in rows]


async def _listed(stack: Stack, staff: User, post_id: str) -> list[dict]:
    """The post's escalations as crisis staff list them (GET /v1/escalations, every status)."""
    found = []
    for status in ("open", "acknowledged", "resolved"):
        response = await stack.moderation.get(f"/v1/escalations?status={status}", headers=staff.auth)
        assert response.status == 200
        found += [i for i in (await response.json())["items"] if i["post_id"] == post_id]
    return found


async def _detail(stack: Stack, staff: User, escalation_id: str) -> dict:
    response = await stack.moderation.get(f"/v1/escalations/{escalation_id}", headers=staff.auth)
    assert response.status == 200
    return await response.json()


async def _typed(stack: Stack, user: User, kind: str) -> list[dict]:
    return sorted((n for n in await stack.notifications_of(user) if n["type"] == kind), key=lambda n: n["seq"])


async def _at_least(awaitable, n: int):
    items = await awaitable
    return items if len(items) >= n else None


async def _resolve(stack: Stack, staff: User, escalation_id: str) -> None:
    response = await stack.moderation.post(f"/v1/escalations/{escalation_id}/resolve",
                                           json={"outcome": "contacted", "note": "safe for now"}, headers=staff.auth)
    assert response.status == 200, await response.text()


async def _escalation_events(stack: Stack) -> list[dict]:
    rows = await stack.db.fetch("SELECT payload FROM moderation.outbox WHERE topic = 'moderation.escalations' "
                                "ORDER BY id")
    return [json.loads(bytes(r["payload"])) for r in rows]


async def _edit(stack: Stack, author: User, post_id: str, body: str) -> None:
    response = await stack.forum.patch(f"/v1/posts/{post_id}", json={"body": body}, headers=author.auth)
    assert response.status == 200, await response.text()


# --- an edit that raises the level ------------------------------------------------------------------------------


async def test_an_edit_from_watch_to_imminent_upgrades_pages_and_sends_resources_again(
    isolation: Isolation,
) -> None:
    async with start_stack(isolation, CRISIS_REPAGE_SECONDS=str(REPAGE_SECONDS)) as stack:
        author, staff, admin = await stack.register(), await stack.staff("crisis_staff"), await stack.staff("admin")
        post_id = (await stack.start_thread(author, WATCH))["post"]["id"]
        (watch,) = await eventually(lambda: _listed(stack, staff, post_id), what="the watch escalation")
        assert (watch["level"], watch["status"], watch["post_version"]) == ("watch", "open", 1)
        assert watch["upgraded_at"] is None
        acknowledged = await stack.moderation.post(f"/v1/escalations/{watch['id']}/acknowledge", headers=staff.auth)
        assert acknowledged.status == 200
        await eventually(lambda: _typed(stack, author, "support.resources"), what="resources for the watch post")

        await _edit(stack, author, post_id, IMMINENT)

        async def upgraded():
            detail = await _detail(stack, staff, watch["id"])
            return detail if detail["level"] == "imminent" else None

        detail = await eventually(upgraded, what="the escalation upgraded to imminent")
        # The same escalation, raised: it needs acknowledging again, for the new version, newest evidence first.
        assert (detail["status"], detail["post_version"], detail["acknowledged_at"]) == ("open", 2, None)
        assert detail["upgraded_at"] is not None and detail["opened_at"] == watch["opened_at"]
        assert detail["evidence"][0]["level"] == "imminent" and detail["evidence"][-1]["level"] == "watch"
        assert [e["id"] for e in await _listed(stack, staff, post_id)] == [watch["id"]], "one escalation per post"

        # Crisis staff are paged at the new level; the author gets the resources again, with the emergency prompt.
        notices = await eventually(lambda: _at_least(_typed(stack, staff, "crisis.escalation"), 2),
                                   what="crisis staff told of the upgrade")
        assert [(n["data"]["escalation_id"], n["data"]["level"], n["data"]["paged"]) for n in notices] == [
            (watch["id"], "watch", False), (watch["id"], "imminent", True)]
        assert notices[1]["data"]["previous_level"] == "watch"
        support = await eventually(lambda: _at_least(_typed(stack, author, "support.resources"), 2),
                                   what="the author's resources again")
        assert "emergency" not in support[0]["data"] and support[1]["data"]["emergency"]
        assert all(IMMINENT not in json.dumps(n["data"]) for n in notices + support), "no post text in notices"

        # next_page_at was set: the upgraded escalation is re-paged until acknowledged, at its new level.
        (repage, *_) = await eventually(lambda: _typed(stack, staff, "crisis.repage"), timeout=20,
                                        what="a re-page of the upgraded escalation")
        assert (repage["data"]["escalation_id"], repage["data"]["level"], repage["data"]["tier"]) == (
            watch["id"], "imminent", 1)
        again = await stack.moderation.post(f"/v1/escalations/{watch['id']}/acknowledge", headers=staff.auth)
        assert again.status == 200 and (await again.json())["status"] == "acknowledged"

        upgrade_events = [e for e in await _escalation_events(stack) if e["type"] == "escalation.upgraded"]
        assert len(upgrade_events) == 1
        assert {k: upgrade_events[0]["data"][k] for k in ("escalation_id", "post_id", "author_id", "level",
                                                          "previous_level", "community", "pages", "opened_at")} == {
            "escalation_id": watch["id"], "post_id": post_id, "author_id": author.id, "level": "imminent",
            "previous_level": "watch", "community": "general", "pages": True, "opened_at": watch["opened_at"]}
        audit = await (await stack.moderation.get(f"/v1/audit?subject=escalation:{watch['id']}",
                                                  headers=admin.auth)).json()
        (entry,) = [e for e in audit["items"] if e["action"] == "escalation.upgrade"]
        assert entry["actor_role"] == "system"
        assert entry["before"] == {"level": "watch", "post_version": 1, "status": "acknowledged"}
        assert entry["after"] == {"level": "imminent", "post_version": 2, "status": "open"}


# --- after a resolved escalation --------------------------------------------------------------------------------


async def _redeliver(stack: Stack, post_id: str, version: int) -> None:
    """Produce the forum's event for that post version again: once as it was (same event id: a consumer
    restart before its commit), once with a new id (the pending sweeper, an operator's replay). Then wait
    until each of moderation's consumers that applied the original has applied the copy, which it reads
    after the first (same key, same partition)."""
    rows = await stack.db.fetch("SELECT key, payload FROM forum.outbox WHERE topic = 'forum.posts' AND key = $1 "
                                "ORDER BY id", post_id)
    original = next(json.loads(bytes(r["payload"])) for r in rows
                    if json.loads(bytes(r["payload"]))["data"]["version"] == version)
    copy = {**original, "id": str(uuid.uuid4())}

    async def applied_original() -> list[str]:
        return [r["consumer"] for r in await stack.db.fetch(
            "SELECT consumer FROM moderation.inbox WHERE event_id = $1", uuid.UUID(original["id"]))]

    consumers = await eventually(applied_original, what="the original post event applied by moderation")

    producer = AIOKafkaProducer(bootstrap_servers=stack.isolation.bootstrap_servers, acks="all")
    await producer.start()
    try:
        topic = TopicNames(stack.isolation.topic_prefix).name("forum.posts")
        for event in (original, copy):
            await producer.send_and_wait(topic, value=json.dumps(event).encode(), key=post_id.encode())
    finally:
        await producer.stop()

    async def applied() -> bool:
        return await stack.db.fetchval("SELECT count(*) FROM moderation.inbox WHERE event_id = $1 "
                                       "AND consumer = ANY($2::text[])", uuid.UUID(copy["id"]), consumers) \
            == len(consumers)

    await eventually(applied, what="the replayed post event applied by moderation")


async def test_after_resolve_a_new_crisis_version_opens_a_new_escalation_and_a_replay_opens_nothing(
    isolation: Isolation,
) -> None:
    async with start_stack(isolation) as stack:
        author, staff = await stack.register(), await stack.staff("crisis_staff")
        post_id = (await stack.start_thread(author, IMMINENT))["post"]["id"]
        (first,) = await eventually(lambda: _listed(stack, staff, post_id), what="the first escalation")
        assert (first["level"], first["post_version"]) == ("imminent", 1)
        await _resolve(stack, staff, first["id"])

        # The same version again, as it was and under a new id: handled already, nothing opens.
        await _redeliver(stack, post_id, 1)

        async def only_the_resolved_one() -> bool:
            return [(e["id"], e["status"]) for e in await _escalations_of(stack, post_id)] == [
                (first["id"], "resolved")]

        await holds_for(only_the_resolved_one, seconds=1.5, what="no second escalation for a replayed version")

        # A crisis in a newer version opens a new escalation; the resolved one stays as it was.
        await _edit(stack, author, post_id, HIGH)
        listed = await eventually(lambda: _at_least(_listed(stack, staff, post_id), 2), what="a new escalation")
        second = next(e for e in listed if e["id"] != first["id"])
        assert (second["level"], second["status"], second["post_version"]) == ("high", "open", 2)
        assert (await _detail(stack, staff, first["id"]))["status"] == "resolved"
        notices = await eventually(lambda: _at_least(_typed(stack, staff, "crisis.escalation"), 2),
                                   what="crisis staff told of the new escalation")
        assert [(n["data"]["escalation_id"], n["data"]["level"]) for n in notices] == [
            (first["id"], "imminent"), (second["id"], "high")]
        await eventually(lambda: _at_least(_typed(stack, author, "support.resources"), 2),
                         what="the author's resources for the new escalation")

        # A replay of version 1 (imminent) while version 2's escalation is open: version 1 was handled by the
        # resolved escalation, so it neither upgrades the new one nor opens another.
        await _redeliver(stack, post_id, 1)
        await _resolve(stack, staff, second["id"])
        await _redeliver(stack, post_id, 2)

        async def unchanged() -> bool:
            rows = await _escalations_of(stack, post_id)
            return [(e["id"], e["level"], e["status"]) for e in rows] == [
                (first["id"], "imminent", "resolved"), (second["id"], "high", "resolved")]

        await holds_for(unchanged, seconds=1.5, what="replays change no escalation")
        kinds = [e["type"] for e in await _escalation_events(stack)]
        assert kinds.count("escalation.opened") == 2 and "escalation.upgraded" not in kinds


# --- a moderator's escalate --------------------------------------------------------------------------------------


async def test_moderator_escalate_upgrades_a_lower_live_one_and_opens_a_new_one_after_resolve(
    isolation: Isolation,
) -> None:
    async with start_stack(isolation, REPORT_NEW_ACCOUNT_HOURS="0") as stack:
        author, staff = await stack.register(), await stack.staff("crisis_staff")
        moderator, admin = await stack.staff("moderator"), await stack.staff("admin")
        post_id = (await stack.start_thread(author, "you are an idiot"))["post"]["id"]

        async def item_id():
            listing = await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json()
            return next((i["id"] for i in listing["items"] if i["post_id"] == post_id), None)

        item = await eventually(item_id, what="the held post in the queue")

        async def escalate(level: str) -> tuple[int, dict]:
            response = await stack.moderation.post(f"/v1/queue/{item}/actions", headers=moderator.auth, json={
                "action": "escalate", "level": level, "reason": "worrying history"})
            return response.status, await response.json()

        assert (await escalate("watch"))[0] == 200
        (watch,) = await _listed(stack, staff, post_id)
        assert watch["level"] == "watch"
        assert (await escalate("watch"))[0] == 409, "the same level: crisis staff already have it"

        assert (await escalate("high"))[0] == 200
        (high,) = await _listed(stack, staff, post_id)
        assert (high["id"], high["level"], high["status"]) == (watch["id"], "high", "open")
        for level in ("high", "watch"):
            status, body = await escalate(level)
            assert status == 409 and body["error"]["code"] == "conflict"

        await _resolve(stack, staff, watch["id"])
        assert (await escalate("high"))[0] == 200, "after a resolved escalation, a moderator opens a new one"
        escalations = await _escalations_of(stack, post_id)
        assert [(e["status"], e["level"], e["post_version"]) for e in escalations] == [
            ("resolved", "high", 1), ("open", "high", 1)]

        notices = await eventually(lambda: _at_least(_typed(stack, staff, "crisis.escalation"), 3),
                                   what="crisis staff told of each")
        assert [(n["data"]["escalation_id"], n["data"]["level"], n["data"]["paged"]) for n in notices] == [
            (watch["id"], "watch", False), (watch["id"], "high", True), (escalations[1]["id"], "high", True)]
        audit = await (await stack.moderation.get(f"/v1/audit?subject=post:{post_id}", headers=admin.auth)).json()
        escalates = [e["after"] for e in audit["items"] if e["action"] == "queue.escalate"]
        assert [(a["escalation_id"], a["escalation"]) for a in escalates] == [
            (watch["id"], "opened"), (watch["id"], "upgraded"), (escalations[1]["id"], "opened")]
        upgrade = await (await stack.moderation.get(f"/v1/audit?subject=escalation:{watch['id']}",
                                                    headers=admin.auth)).json()
        (entry,) = [e for e in upgrade["items"] if e["action"] == "escalation.upgrade"]
        assert (entry["actor_id"], entry["actor_role"]) == (moderator.id, "moderator")


# --- the rule and its concurrency, on the database alone --------------------------------------------------------


def _post(post_id: uuid.UUID, version: int, author_id: uuid.UUID | None = None) -> dict:
    return {"post_id": post_id, "version": version, "author_id": author_id or uuid.UUID(int=7),
            "community": "general"}


async def _open(pool: asyncpg.Pool, post: dict, level: str) -> str | None:
    async with pool.acquire() as conn, conn.transaction():
        return await open_escalation(conn, post=post, level=level, repage_seconds=120, trace_id="",
                                     evidence=[{"code": "crisis", "level": level}])


async def _live(pool: asyncpg.Pool, post_id: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT id, level, post_version, status FROM escalations "
                            "WHERE post_id = $1 AND status <> 'resolved'", post_id)


async def test_the_rule_raise_upgrades_same_or_lower_or_handled_versions_change_nothing(pool) -> None:
    post_id = uuid.uuid4()
    opened = await _open(pool, _post(post_id, 1), "watch")
    assert opened is not None
    assert await _open(pool, _post(post_id, 1), "watch") is None, "a redelivery changes nothing"
    assert await _open(pool, _post(post_id, 1), "high") == opened, "a higher level for the same version upgrades"
    assert await _open(pool, _post(post_id, 2), "watch") is None, "a lower level changes nothing"
    assert await _open(pool, _post(post_id, 2), "high") is None, "the same level changes nothing"
    (live,) = await _live(pool, post_id)
    assert (live["level"], live["post_version"]) == ("high", 1)

    staff = Principal(str(uuid.uuid4()), "alex", "crisis_staff")
    await EscalationDesk(pool, 120).resolve(staff, opened, "contacted", None, "")
    for version, level in ((1, "imminent"), (2, "imminent")):  # version 2 was taken in while it was open
        assert await _open(pool, _post(post_id, version), level) is None, f"version {version} was handled"
    assert await _live(pool, post_id) == []

    reopened = await _open(pool, _post(post_id, 3), "watch")
    assert reopened not in (None, opened), "a crisis in a newer version opens a new escalation"
    assert await _open(pool, _post(post_id, 2), "imminent") is None, "an older version never upgrades it"
    assert await _open(pool, _post(post_id, 3), "imminent") == reopened
    (live,) = await _live(pool, post_id)
    assert (live["id"], live["level"], live["post_version"]) == (uuid.UUID(reopened), "imminent", 3)
    kinds = [json.loads(bytes(r["payload"]))["type"] for r in await pool.fetch(
        "SELECT payload FROM outbox WHERE topic = 'moderation.escalations' ORDER BY id")]
    assert kinds == ["escalation.opened", "escalation.upgraded", "escalation.resolved", "escalation.opened",
                     "escalation.upgraded"]


async def test_concurrent_callers_leave_exactly_one_live_escalation(pool) -> None:
    # Per post, six callers at once for one version (the decision worker's early path and its decision, the
    # crisis screen, redeliveries), with the levels their detectors gave.
    calls = [(1, "watch"), (1, "imminent"), (1, "watch"), (1, "high"), (1, "imminent"), (1, "watch")]
    posts = [uuid.uuid4() for _ in range(10)]

    async def call(post_id: uuid.UUID, version: int, level: str) -> str | None:
        async with pool.acquire() as conn, conn.transaction():
            return await open_escalation(conn, post=_post(post_id, version), level=level, repage_seconds=120,
                                         trace_id="", evidence=[{"code": "crisis", "level": level}])

    # One post's callers side by side, two posts at a time (the pool has twelve connections).
    results = await asyncio.gather(*(call(p, v, lvl) for p in posts for v, lvl in calls))
    for i, post_id in enumerate(posts):
        (live,) = await _live(pool, post_id)
        assert live["level"] == "imminent" and live["status"] == "open"
        assert await pool.fetchval("SELECT count(*) FROM escalations WHERE post_id = $1", post_id) == 1
        changed = {r for r in results[i * len(calls):(i + 1) * len(calls)] if r is not None}
        assert changed == {str(live["id"])}
    events = [json.loads(bytes(r["payload"])) for r in await pool.fetch(
        "SELECT payload FROM outbox WHERE topic = 'moderation.escalations' ORDER BY id")]
    assert sum(e["type"] == "escalation.opened" for e in events) == len(posts), "one opened event per post"
    # Each post reaches imminent once, whether it was opened there or upgraded to it (never twice).
    reached = [e["data"]["escalation_id"] for e in events if e["data"]["level"] == "imminent"]
    assert len(reached) == len(set(reached)) == len(posts)


async def test_a_second_caller_waits_for_the_first_and_upgrades_what_it_opened(pool) -> None:
    post_id = uuid.uuid4()
    async with pool.acquire() as first, pool.acquire() as second:
        first_tx = first.transaction()
        await first_tx.start()
        opened = await open_escalation(first, post=_post(post_id, 1), level="watch", repage_seconds=120,
                                       trace_id="", evidence=[])
        assert opened is not None
        second_pid = second.get_server_pid()

        async def upgrade() -> str | None:
            async with second.transaction():
                return await open_escalation(second, post=_post(post_id, 1), level="imminent", repage_seconds=120,
                                             trace_id="", evidence=[])

        waiting = asyncio.create_task(upgrade())

        async def blocked() -> bool:
            return await pool.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                                       second_pid) is True

        await eventually(blocked, what="the second caller waiting for the first")
        assert not waiting.done()
        await first_tx.commit()
        assert await asyncio.wait_for(waiting, 10) == opened, "it upgrades the one just opened, not a second"
    (live,) = await _live(pool, post_id)
    assert (str(live["id"]), live["level"]) == (opened, "imminent")


async def test_the_database_allows_one_live_escalation_per_post_and_any_resolved(pool) -> None:
    post_id = uuid.uuid4()
    insert = ("INSERT INTO escalations (id, post_id, post_version, covered_version, author_id, community, level, "
              "evidence, status) VALUES ($1, $2, 1, 1, $3, 'general', 'watch', '[]', $4)")
    for _ in range(2):
        await pool.execute(insert, uuid.uuid4(), post_id, uuid.uuid4(), "resolved")
    await pool.execute(insert, uuid.uuid4(), post_id, uuid.uuid4(), "acknowledged")
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(insert, uuid.uuid4(), post_id, uuid.uuid4(), "open")
