"""Moderation down: posts stay pending (fail closed), the sweeper re-emits them, and when
moderation returns each post is decided exactly once."""

from __future__ import annotations

import uuid

from tests.support.stack import Isolation, build_app, start_client, start_stack
from tests.support.waiting import eventually


async def test_posts_wait_while_moderation_is_down_and_are_decided_once_when_it_returns(
    isolation: Isolation,
) -> None:
    async with start_stack(isolation, without=("moderation",), PENDING_SWEEP_SECONDS="1") as stack:
        author, reader = await stack.register(), await stack.register()
        posts = [(await stack.start_thread(author, f"day {n}, one at a time"))["post"]["id"] for n in range(3)]

        async def re_emitted() -> bool:
            per_post = await stack.db.fetch(
                "SELECT key, count(*) AS n FROM forum.outbox WHERE topic = 'forum.posts' GROUP BY key")
            return len(per_post) == 3 and all(r["n"] >= 2 for r in per_post)

        await eventually(re_emitted, timeout=20, what="the sweeper re-emitting pending posts")
        for post_id in posts:  # fail closed: nobody else sees an undecided post
            assert await stack.post_status(author, post_id) == "pending"
            assert await stack.post_status(reader, post_id) is None

        moderation = await start_client(build_app("moderation", isolation.env()))
        try:
            async def all_published() -> bool:
                return all([await stack.post_status(reader, p) == "published" for p in posts])

            await eventually(all_published, timeout=60, what="posts decided once moderation is back")
            decisions = await stack.db.fetch("SELECT post_id, count(*) AS n FROM moderation.decisions GROUP BY post_id")
            assert sorted(str(r["post_id"]) for r in decisions) == sorted(posts)
            assert all(r["n"] == 1 for r in decisions)

            async def re_emissions_absorbed() -> bool:
                seen = await stack.db.fetchval("SELECT count(*) FROM moderation.inbox "
                                               "WHERE consumer = 'moderation-posts' AND event_type = 'post.created'")
                return seen >= 6

            await eventually(re_emissions_absorbed, what="re-emitted events consumed too")
            decisions = await stack.db.fetch("SELECT post_id, count(*) AS n FROM moderation.decisions GROUP BY post_id")
            assert all(r["n"] == 1 for r in decisions), "a re-emitted post was decided again"
            applied = await stack.db.fetchval(
                "SELECT count(DISTINCT p.id) FROM forum.posts p WHERE p.id = ANY($1::uuid[]) AND decided_version = 1",
                [uuid.UUID(p) for p in posts])
            assert applied == 3
        finally:
            await moderation.close()
