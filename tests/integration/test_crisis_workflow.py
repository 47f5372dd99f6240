"""Crisis escalations: acknowledge, notes, resolve with an outcome, outreach, and re-paging
timers that live in PostgreSQL and survive a restart of moderation."""

from __future__ import annotations

import time
import uuid

from tests.support.stack import Isolation, Stack, User, build_app, start_client, start_stack
from tests.support.waiting import eventually, holds_for

CRISIS = "I'm going to kill myself tonight, I have all my pills ready"
REPAGE_SECONDS = 2


async def _escalation(stack: Stack, staff: User, post_id: str) -> dict:
    async def find():
        items = (await (await stack.moderation.get("/v1/escalations", headers=staff.auth)).json())["items"]
        return next((i for i in items if i["post_id"] == post_id), None)

    return await eventually(find, what="the escalation in the feed")


async def _repages(stack: Stack, staff: User) -> list[dict]:
    pages = [n["data"] for n in await stack.notifications_of(staff) if n["type"] == "crisis.repage"]
    return sorted(pages, key=lambda page: page["misses"])


async def test_unacknowledged_escalation_is_repaged_then_reaches_tier_two_across_a_restart(
    isolation: Isolation,
) -> None:
    async with start_stack(isolation, CRISIS_REPAGE_SECONDS=str(REPAGE_SECONDS)) as stack:
        author, staff = await stack.register(), await stack.staff("crisis_staff")
        post_id = (await stack.start_thread(author, CRISIS))["post"]["id"]
        escalation = await _escalation(stack, staff, post_id)
        opened = time.monotonic()
        first = await eventually(lambda: _repages(stack, staff), timeout=15, what="first re-page")
        assert [p["tier"] for p in first] == [1]

        # Restart moderation mid-cycle: the timer is a row, not a task, so paging goes on.
        await stack.moderation.close()
        stack.moderation = await start_client(build_app("moderation", isolation.env(
            CRISIS_REPAGE_SECONDS=str(REPAGE_SECONDS))))
        second = await eventually(lambda: _at_least(_repages(stack, staff), 2), timeout=20, what="second re-page")
        assert [p["tier"] for p in second[:2]] == [1, 2], "the second miss pages tier two"
        elapsed = time.monotonic() - opened
        assert len(second) <= elapsed / REPAGE_SECONDS + 1, "re-paged more than once per interval"

        acknowledged = await stack.moderation.post(f"/v1/escalations/{escalation['id']}/acknowledge",
                                                   headers=staff.auth)
        assert acknowledged.status == 200 and (await acknowledged.json())["status"] == "acknowledged"
        count = await _page_count(stack, escalation["id"])

        async def unchanged() -> bool:
            return await _page_count(stack, escalation["id"]) == count

        await holds_for(unchanged, seconds=2.5 * REPAGE_SECONDS, what="no re-page after acknowledgement")


async def test_acknowledge_note_outreach_resolve(isolation: Isolation) -> None:
    async with start_stack(isolation) as stack:
        author, staff, member = await stack.register(), await stack.staff("crisis_staff"), await stack.register()
        post_id = (await stack.start_thread(author, CRISIS))["post"]["id"]
        escalation = await _escalation(stack, staff, post_id)
        url = f"/v1/escalations/{escalation['id']}"
        assert escalation["level"] == "imminent" and escalation["status"] == "open"

        assert (await stack.moderation.post(f"{url}/acknowledge", headers=staff.auth)).status == 200
        assert (await stack.moderation.post(f"{url}/acknowledge", headers=staff.auth)).status == 409
        noted = await stack.moderation.post(f"{url}/notes", json={"note": "called the member, no answer yet"},
                                            headers=staff.auth)
        assert noted.status == 200 and [n["note"] for n in (await noted.json())["notes"]] == [
            "called the member, no answer yet"]
        outreach = await stack.moderation.post(f"{url}/outreach", json={"message": "We're here with you tonight."},
                                               headers=staff.auth)
        assert outreach.status == 200

        async def outreach_received():
            return [n for n in await stack.notifications_of(author) if n["type"] == "support.outreach"]

        (message,) = await eventually(outreach_received, what="outreach delivered to the author")
        assert message["data"]["message"] == "We're here with you tonight."
        assert not [n for n in await stack.notifications_of(member) if n["type"] == "support.outreach"]

        missing = await stack.moderation.post(f"{url}/resolve", json={"note": "done"}, headers=staff.auth)
        assert missing.status == 400 and (await missing.json())["error"]["field"] == "outcome"
        resolved = await stack.moderation.post(f"{url}/resolve", json={"outcome": "contacted", "note": "safe now"},
                                               headers=staff.auth)
        body = await resolved.json()
        assert resolved.status == 200 and (body["status"], body["outcome"]) == ("resolved", "contacted")
        listed = await (await stack.moderation.get("/v1/escalations?status=resolved", headers=staff.auth)).json()
        assert [i["id"] for i in listed["items"]] == [escalation["id"]]
        acks = await eventually(lambda: _typed(stack, staff, "crisis.acknowledged"), what="acknowledgement shared")
        assert acks[0]["data"]["by"] == staff.id

        topics = await stack.db.fetch("SELECT payload FROM moderation.outbox WHERE topic = 'moderation.escalations' "
                                      "ORDER BY id")
        kinds = [bytes(r["payload"]).split(b'"type":"')[1].split(b'"')[0].decode() for r in topics]
        assert kinds == ["escalation.opened", "escalation.acknowledged", "escalation.resolved"]


async def _typed(stack: Stack, user: User, kind: str) -> list[dict]:
    return [n for n in await stack.notifications_of(user) if n["type"] == kind]


async def _at_least(awaitable, n: int):
    items = await awaitable
    return items if len(items) >= n else None


async def _page_count(stack: Stack, escalation_id: str) -> int:
    return await stack.db.fetchval("SELECT page_count FROM moderation.escalations WHERE id = $1",
                                   uuid.UUID(escalation_id))
