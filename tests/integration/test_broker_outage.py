"""Kafka SIGKILLed while members keep posting: every post accepted, every post decided exactly once."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from services.common.embedded.kafka import EmbeddedKafka
from services.common.topics import TopicNames, ensure_topics
from tests.support.infra import drop_database, isolated_database
from tests.support.stack import Isolation, start_stack
from tests.support.waiting import eventually

pytestmark = pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
                                reason="kills the broker: needs the embedded one this test owns")


@pytest.fixture
def own_kafka(session_dir: Path, kafka_libs: Path):
    kafka = EmbeddedKafka(session_dir / f"kafka-{uuid.uuid4().hex[:6]}", kafka_libs)
    kafka.start()
    yield kafka
    kafka.stop()


@pytest.mark.timeout(300)
async def test_broker_killed_mid_posting_loses_and_doubles_nothing(infra, own_kafka: EmbeddedKafka, token_keys,
                                                                   marker_model) -> None:
    dsn, database = await isolated_database(infra.admin_dsn)
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(own_kafka.bootstrap_servers, TopicNames(prefix))
    isolation = Isolation(dsn, own_kafka.bootstrap_servers, prefix, token_keys[0], token_keys[1], marker_model)
    try:
        # A short sweep interval: posts stuck pending through the outage are re-emitted too,
        # which is exactly the duplicate the decision table must absorb.
        async with start_stack(isolation, PENDING_SWEEP_SECONDS="3") as stack:
            author = await stack.register()
            post_ids: list[str] = []

            async def post(n: int) -> None:
                created = await stack.start_thread(author, f"check-in number {n}: still sober, still here")
                post_ids.append(created["post"]["id"])  # start_thread asserts the 201

            for n in range(8):
                await post(n)
            await eventually(lambda: _decided_count(stack, post_ids[:1]), timeout=60, what="first decision")

            await asyncio.get_running_loop().run_in_executor(None, own_kafka.kill)
            for n in range(8, 20):
                await post(n)  # accepted while the broker is down: the outbox holds the events
            await asyncio.get_running_loop().run_in_executor(None, own_kafka.start, 180.0)

            await eventually(lambda: _decided_count(stack, post_ids), timeout=150, interval=0.5,
                             what="every post decided after the broker came back")
            statuses = [await stack.post_status(author, p) for p in post_ids]
            assert statuses == ["published"] * 20
            rows = await stack.db.fetch(
                "SELECT post_id, count(*) AS n FROM moderation.decisions GROUP BY post_id")
            assert sorted(str(r["post_id"]) for r in rows) == sorted(post_ids)
            assert all(r["n"] == 1 for r in rows), "a post was decided twice"
            applied = await stack.db.fetchval(
                "SELECT count(*) FROM forum.inbox WHERE consumer = 'forum-decisions'")
            assert applied == 20, "forum applied a decision event more or less than once per post"
            unsent = await stack.db.fetchval("SELECT count(*) FROM forum.outbox WHERE sent_at IS NULL")
            assert unsent == 0
    finally:
        await drop_database(infra.admin_dsn, database)


async def _decided_count(stack, post_ids: list[str]) -> bool:
    decided = await stack.db.fetchval(
        "SELECT count(*) FROM forum.posts WHERE id = ANY($1::uuid[]) AND status <> 'pending'",
        [uuid.UUID(p) for p in post_ids])
    return decided == len(post_ids)
