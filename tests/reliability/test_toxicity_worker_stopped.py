"""Scenario 7: the toxicity worker stopped while members keep posting; the crisis screen alone still pages.

Moderation runs as two kinds of process, as a deployment may run it (``MODERATION_CONSUMERS``),
each kind scaled out like the other services: the crisis screen (rules + encoder, consumer group ``moderation-crisis``) and the decision worker
(Detoxify and the policy, group ``moderation-posts``). The decision worker is down for the
first ``HAVEN_RELIABILITY_OUTAGE_S`` seconds of load: every post waits undecided (fail closed),
yet every crisis post's escalation reaches crisis staff (a stored notification, the pager's
webhook) within seconds. Then the decision worker starts, the backlog is decided, and the
invariant checker finds one escalation per crisis post and one decision per post version.
``crisis_p99_s`` is the crisis post's 201 → the crisis staff's notification, during the outage.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.conftest import CRISIS_BUDGET_S, INSTANCES, emit
from tests.support.processes import ServiceGroup

OUTAGE_S = float(os.environ.get("HAVEN_RELIABILITY_OUTAGE_S", "60"))
@pytest.mark.timeout(int(OUTAGE_S) + 300)
async def test_crisis_posts_reach_staff_while_the_toxicity_worker_is_stopped(open_run, postgres, kafka,
                                                                             tmp_path: Path) -> None:
    async with open_run("toxicity_worker_stopped", admin_dsn=postgres.dsn(), bootstrap_servers=kafka.bootstrap_servers,
                        per_service={"moderation": {"MODERATION_CONSUMERS": "crisis"}}) as run:
        decisions = ServiceGroup("moderation", {**run.services["moderation"].env,
                                                "MODERATION_CONSUMERS": "decisions"}, tmp_path / "decision-worker", INSTANCES)
        try:
            await run.start_load()
            run.faults += 1
            await run.wait_seconds_of_load(OUTAGE_S)
            crisis = run.load.stats.of_kind("crisis")
            assert len(crisis) >= 5, run.load.stats.summary()
            paged = await run.crisis_paging(crisis, what="every crisis post paged without the decision worker")
            undecided = await run.db.fetchval(
                "SELECT count(*) FROM forum.posts WHERE id = ANY($1::uuid[]) AND status = 'pending'", crisis)
            assert undecided == len(crisis), "the crisis posts were paged while still undecided (no decision worker)"
            emit(run.terminal, f"scenario=toxicity_worker_stopped crisis_paged_during_outage={paged.count} "
                               f"p50_s={paged.p50:.2f} p99_s={paged.p99:.2f}")
            assert paged.p99 < CRISIS_BUDGET_S, \
                f"crisis post to crisis staff p99 {paged.p99:.2f}s with the toxicity worker down"

            await decisions.start()
            drained = run.watch_recovery()
            await run.wait_posts(20)
            await drained
            await run.finish()
        finally:
            await decisions.stop()
