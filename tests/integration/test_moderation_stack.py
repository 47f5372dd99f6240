"""Issue 3 through the whole stack: a community's stored policy, sourcing and personal data, forum to decision."""

from __future__ import annotations

import json

import asyncpg

from services.common.service import migrate
from services.moderation.config import SCHEMA
from services.moderation.main import MIGRATIONS
from tests.support.stack import Isolation, start_stack
from tests.support.waiting import eventually

async def test_community_policy_sourcing_and_personal_data_end_to_end(isolation: Isolation) -> None:
    # The community's document is in the database before moderation starts: it is loaded at start.
    await migrate(isolation.database_url, SCHEMA, MIGRATIONS)

    conn = await asyncpg.connect(isolation.database_url)
    try:
        await conn.execute(
            "INSERT INTO moderation.policies (community, version, document) VALUES ('general', 'g-1', $1::jsonb)",
            json.dumps({"version": "g-1", "watched": {"words": [{"text": "spice gold", "action": "block"}]}}))
    finally:
        await conn.close()

    async with start_stack(isolation) as stack:
        author, moderator = await stack.register(), await stack.staff("moderator")
        blocked = (await stack.start_thread(author, "fresh S-P-I-C-E g0ld in stock"))["post"]["id"]
        sourcing = (await stack.start_thread(author, "anyone selling percs near campus? dm me"))["post"]["id"]
        personal = (await stack.start_thread(author, "call me at 617-555-0123 whenever"))["post"]["id"]
        for post_id, status in ((blocked, "removed"), (sourcing, "held"), (personal, "held")):
            await eventually(lambda p=post_id, s=status: stack.has_status(author, p, s), what=f"{post_id} {status}")

        async def seen(user, post_id):
            return (await (await stack.forum.get(f"/v1/posts/{post_id}", headers=user.auth)).json())["post"]

        # "in stock" is an offer: the sourcing head holds it, the community's block word removes it
        assert (await seen(author, blocked))["reasons"] == ["sourcing", "watched"]
        assert (await seen(author, sourcing))["reasons"] == ["sourcing"]
        assert (await seen(author, personal))["reasons"] == ["privacy"]
        (privacy,) = [r for r in (await seen(moderator, personal))["reasons"] if r["code"] == "privacy"]
        assert privacy["action"] == "redact"
        assert privacy["details"]["redacted_text"] == "A thread\ncall me at [phone removed] whenever"
        assert "617-555-0123" not in privacy["evidence"]
        rows = await stack.db.fetch("SELECT post_id::text, policy_version FROM moderation.decisions")
        assert {r["policy_version"] for r in rows} == {"default-1+general@g-1"}
