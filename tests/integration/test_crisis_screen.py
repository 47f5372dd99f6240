"""The crisis screen stands alone: with no decision worker running, a crisis post still reaches crisis staff;
when the decision worker comes, it decides the post from the screen's stored signals."""

from __future__ import annotations

import json
import uuid

from services.moderation.appkeys import CRISIS_SCREEN
from tests.support.stack import Isolation, build_app, start_client, start_stack
from tests.support.waiting import eventually

# No suicide vocabulary, no rule phrase: only the learned crisis head can see this one.
UNWORDED_CRISIS = "the pills are counted out on the table. tonight. thanks for everything you all did for me"
RULED_CRISIS = "I have the pills ready and I'm taking all of them tonight"


async def test_crisis_posts_reach_staff_without_the_decision_worker_and_are_decided_when_it_comes(
    isolation: Isolation,
) -> None:
    async with start_stack(isolation, MODERATION_CONSUMERS="crisis") as stack:
        author, staff = await stack.register(), await stack.staff("crisis_staff")
        posts = [(await stack.start_thread(author, text))["post"]["id"] for text in (RULED_CRISIS, UNWORDED_CRISIS)]

        async def escalated() -> dict | None:
            response = await stack.moderation.get("/v1/escalations", headers=staff.auth)
            items = {i["post_id"]: i for i in (await response.json())["items"]}
            return items if all(p in items for p in posts) else None

        items = await eventually(escalated, timeout=30, what="both crisis posts escalated by the screen alone")
        assert items[posts[0]]["level"] == "imminent"
        learned = [e for e in items[posts[1]]["evidence"] if e.get("detector", "").startswith("all-MiniLM")]
        assert learned and learned[0]["nearest"], "the learned signal's evidence shows the nearest labelled posts"
        for post_id in posts:
            assert await stack.post_status(author, post_id) == "pending", "no decision worker: still undecided"

        async def paged() -> bool:
            notices = [n for n in await stack.notifications_of(staff) if n["type"] == "crisis.escalation"]
            return {n["data"]["post_id"] for n in notices} >= set(posts)

        await eventually(paged, timeout=30, what="crisis staff notified")

        decisions = await start_client(build_app("moderation", isolation.env(MODERATION_CONSUMERS="decisions")))
        try:
            for post_id in posts:
                await eventually(lambda p=post_id: stack.is_decided(author, p), timeout=60, what="decided")
            rows = await stack.db.fetch(
                "SELECT d.signals FROM moderation.decisions d JOIN moderation.screenings s "
                "ON s.post_id = d.post_id AND s.version = d.version WHERE d.post_id = ANY($1::uuid[])",
                [uuid.UUID(p) for p in posts])
            assert len(rows) == 2, "both decided, both screened"
            for row in rows:
                assert any(s["details"].get("label") == "crisis_model" for s in json.loads(row["signals"])), \
                    "the decision carries the screen's learned signal"
            escalations = await stack.db.fetchval(
                "SELECT count(*) FROM moderation.escalations WHERE post_id = ANY($1::uuid[])",
                [uuid.UUID(p) for p in posts])
            assert escalations == 2, "the decision worker found the screen's escalations and opened none again"
        finally:
            await decisions.close()


async def test_a_post_re_emitted_while_undecided_is_screened_once(isolation: Isolation) -> None:
    """Forum's sweeper re-emits an undecided post (a new event each time) while the decision worker is down;
    the screen reuses its stored screening instead of encoding it again, so new crisis posts never queue
    behind old ones, and the escalation is still one."""
    async with start_stack(isolation, MODERATION_CONSUMERS="crisis", PENDING_SWEEP_SECONDS="0.5") as stack:
        author = await stack.register()
        post_id = (await stack.start_thread(author, RULED_CRISIS))["post"]["id"]
        screen = stack.moderation_app[CRISIS_SCREEN]  # the handler of consumer group moderation-crisis

        async def reused() -> bool:
            return screen.reused >= 2

        await eventually(reused, timeout=30, what="the re-emitted post's screening reused, twice")
        assert await stack.db.fetchval("SELECT count(*) FROM moderation.screenings WHERE post_id = $1",
                                       uuid.UUID(post_id)) == 1
        assert await stack.db.fetchval("SELECT count(*) FROM moderation.escalations WHERE post_id = $1",
                                       uuid.UUID(post_id)) == 1
        assert await stack.post_status(author, post_id) == "pending", "still undecided: the sweeper kept re-emitting"
