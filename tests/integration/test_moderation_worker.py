"""The worker on real PostgreSQL: crisis escalations by the screen before the model, per-community policies from the database,
and replay — which reads and changes nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import asyncpg

from services.common.envelope import Event
from services.common.config import EnvReader
from services.common.handlers import Dispatch, TopicHandler
from services.moderation.config import learned_from_env
from services.moderation.detectors.learned import LearnedScorer
from services.moderation.detectors.pipeline import Detectors
from services.moderation.handlers import CrisisScreenHandler, PostsHandler
from services.moderation.policy import Policy
from services.moderation.policy_book import PolicyHolder, SinglePolicy, load_book
from tests.support.stack import Isolation

CRISIS = "I have the pills ready and I'm taking all of them tonight"


class GatedScorer:
    """A model that does not answer until the test lets it: what a slow ML batch looks like."""

    model_name = "gated-model"

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def score(self, texts):
        self.entered.set()
        await self.release.wait()
        return [{"toxicity": 0.01, "threat": 0.01} for _ in texts]


def post_event(body: str, *, community: str = "general", version: int = 1, post_id: str | None = None) -> Event:
    return Event.create("post.created", key=post_id or str(uuid.uuid4()), producer="forum", data={
        "post_id": post_id or str(uuid.uuid4()), "thread_id": str(uuid.uuid4()), "community": community,
        "author_id": str(uuid.uuid4()), "version": version, "body": body, "title": None})


async def apply(pool: asyncpg.Pool, handler: TopicHandler, event: Event) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await Dispatch(handler).apply(conn, event)


async def test_the_crisis_screen_escalates_while_the_decision_worker_waits_for_its_model(pool) -> None:
    scorer = GatedScorer()
    worker = PostsHandler(Detectors(scorer), Policy(), 120, pool=pool)
    screen = CrisisScreenHandler(Detectors(None), SinglePolicy(Policy()), 120)
    crisis, calm = post_event(CRISIS), post_event("day 12, went to two meetings")
    deciding = asyncio.create_task(worker.prepare([crisis, calm]))
    await asyncio.wait_for(scorer.entered.wait(), 10)
    # The decision worker's model has not answered; the screen, a consumer of its own, escalates anyway.
    await screen.prepare([crisis, calm])
    for event in (crisis, calm):
        await apply(pool, screen, event)
    rows = await pool.fetch("SELECT post_id::text, level FROM escalations")
    assert [(r["post_id"], r["level"]) for r in rows] == [(crisis.data["post_id"], "imminent")]
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'moderation.escalations'") == 1
    assert await pool.fetchval("SELECT count(*) FROM decisions") == 0
    scorer.release.set()
    await deciding
    for event in (crisis, calm):
        await apply(pool, worker, event)
    # The decision is stored once; the escalation was not opened twice.
    decisions = await pool.fetch("SELECT post_id::text, outcome FROM decisions ORDER BY outcome")
    assert sorted((d["post_id"], d["outcome"]) for d in decisions) == sorted(
        [(crisis.data["post_id"], "held"), (calm.data["post_id"], "published")])
    assert await pool.fetchval("SELECT count(*) FROM escalations") == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'moderation.escalations'") == 1


async def test_without_the_crisis_screen_the_decision_still_escalates(pool) -> None:
    handler = PostsHandler(Detectors(GatedScorer()), Policy(), 120, pool=pool)
    handler._detectors.toxicity.release.set()
    event = post_event(CRISIS)
    await handler.prepare([event])
    await apply(pool, handler, event)
    assert await pool.fetchval("SELECT level FROM escalations WHERE post_id = $1", uuid.UUID(event.data["post_id"])) \
        == "imminent"


async def test_each_community_is_decided_by_its_stored_policy(pool) -> None:
    document = {"version": "g-1", "watched": {"words": [{"text": "spice gold", "action": "block"}]}}
    await pool.execute("INSERT INTO policies (community, version, document) VALUES ('general', 'g-1', $1::jsonb)",
                       json.dumps(document))
    holder = PolicyHolder(await load_book(pool, Policy()))
    scorer = GatedScorer()
    scorer.release.set()
    handler = PostsHandler(Detectors(scorer), holder, 120, pool=pool)
    here, elsewhere = post_event("selling S.P.I.C.E gold"), post_event("selling S.P.I.C.E gold", community="other")
    await handler.prepare([here, elsewhere])
    for event in (here, elsewhere):
        await apply(pool, handler, event)
    rows = {r["community"]: r for r in await pool.fetch("SELECT community, outcome, policy_version, model, signals "
                                                        "FROM decisions")}
    assert (rows["general"]["outcome"], rows["general"]["policy_version"]) == ("removed", "default-1+general@g-1")
    assert (rows["other"]["outcome"], rows["other"]["policy_version"]) == ("published", "default-1")
    assert rows["general"]["model"].startswith("gated-model+crisis-rules-v3+")
    assert "watched" in [s["category"] for s in json.loads(rows["general"]["signals"])]


async def test_a_flagged_post_is_published_and_queued(pool) -> None:
    document = {"version": "f-1", "watched": {"words": [{"text": "kratom", "action": "flag"}]}}
    await pool.execute("INSERT INTO policies (community, version, document) VALUES ('*', 'f-1', $1::jsonb)",
                       json.dumps(document))
    scorer = GatedScorer()
    scorer.release.set()
    handler = PostsHandler(Detectors(scorer), PolicyHolder(await load_book(pool, Policy())), 120, pool=pool)
    event = post_event("has anyone tried kratom for withdrawal?")
    await handler.prepare([event])
    await apply(pool, handler, event)
    assert await pool.fetchval("SELECT outcome FROM decisions") == "published"
    reasons = json.loads(await pool.fetchval("SELECT reasons FROM queue_items"))
    assert [(r["code"], r["action"]) for r in reasons] == [("watched", "flag")]


def _cli(module: str, isolation: Isolation, *args: str) -> subprocess.CompletedProcess:
    checkpoint, config_dir = isolation.model
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "DATABASE_URL": isolation.database_url, "DETOXIFY_CHECKPOINT": str(checkpoint),
           "DETOXIFY_HF_CONFIG_PATH": str(config_dir)}
    return subprocess.run([sys.executable, "-m", module, *args], env=env, capture_output=True, text=True, timeout=170)


async def test_policies_cli_stores_versions_immutably_and_replay_reports_without_changing_anything(
        pool, isolation: Isolation, tmp_path) -> None:
    loop = asyncio.get_running_loop()
    scorer = GatedScorer()
    scorer.release.set()
    # The stored decisions come from the same detectors the replay runs (the learned heads too): only the
    # policy differs, so only the policy's changes are reported.
    learned = LearnedScorer(learned_from_env(EnvReader({})))
    await learned.start()
    handler = PostsHandler(Detectors(scorer, learned), Policy(), 120, pool=pool)
    events = [post_event("selling spice gold, dm me"), post_event("day 40 and grateful"),
              post_event("my friend is not breathing"), post_event("i want to buy kratom")]
    try:
        await handler.prepare(events)
    finally:
        await learned.close()
    for event in events:
        await apply(pool, handler, event)
    before = await pool.fetch("SELECT post_id, outcome, reasons FROM decisions ORDER BY post_id")

    proposed = tmp_path / "proposed.yaml"
    proposed.write_text("version: p-2\nwatched:\n  words:\n    - {text: spice gold, action: block}\n"
                        "    - {text: kratom, action: hold}\n")
    stored = await loop.run_in_executor(None, lambda: _cli("services.moderation.cli.policies", isolation, "put",
                                                           "--community", "general", str(proposed), "--by", "test"))
    assert stored.returncode == 0, stored.stderr
    assert "default-1+general@p-2" in stored.stdout
    proposed.write_text("version: p-2\ntoxicity: {abuse_hold: 0.5}\n")
    again = await loop.run_in_executor(None, lambda: _cli("services.moderation.cli.policies", isolation, "put",
                                                          "--community", "general", str(proposed)))
    assert again.returncode == 2 and "immutable" in again.stderr
    proposed.write_text("version: p-3\ntoxicity: {remove: 0.9}\n")
    refused = await loop.run_in_executor(None, lambda: _cli("services.moderation.cli.policies", isolation, "put",
                                                            "--community", "general", str(proposed)))
    assert refused.returncode == 2 and "never remove" in refused.stderr

    result = await loop.run_in_executor(None, lambda: _cli("services.moderation.cli.replay", isolation,
                                                           "--since", "2000-01-01", "--examples", "3"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["compared"], summary["changed"]) == (4, 2)
    # Both were held already (the sourcing head); the block word now removes one, the other gains a reason.
    assert summary["outcomes"] == {"held -> removed": 1}
    assert summary["categories_gained"] == {"watched": 2}
    assert summary["by_community"] == {"general": {"compared": 4, "changed": 2}}
    examples = [e for group in summary["examples"].values() for e in group]
    assert {e["post_id"] for e in examples} == {events[0].data["post_id"], events[3].data["post_id"]}
    # Ids and categories only: no post text in what replay prints, and nothing was written.
    for event in events:
        assert event.data["body"] not in result.stdout + result.stderr
    assert await pool.fetch("SELECT post_id, outcome, reasons FROM decisions ORDER BY post_id") == before
    assert await pool.fetchval("SELECT count(*) FROM decisions") == 4
