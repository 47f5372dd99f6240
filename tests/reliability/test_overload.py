"""Scenario 9: twice the toxicity worker's measured capacity for a minute, with a bert-base-sized model.

The decision workers run the bert-base-shaped Detoxify checkpoint ``make bench`` builds (random
weights, the real cost: ~110M parameters per forward pass), two processes of them
(``MODERATION_CONSUMERS=decisions``), beside two crisis-screen processes
(``MODERATION_CONSUMERS=crisis``), as a deployment that wants the crisis path isolated runs them.

The decision workers run at a lower CPU priority (``DECISION_NICENESS``) and the pending sweeper at
its production default: see below.

1. **Capacity**, measured here, in this run: the load is offered well past what the decision
   workers can do (``SATURATE_RATE``) for ``MEASURE_S`` seconds; the decisions stored per
   second over the saturated window are the capacity.
2. **Overload**: twice that capacity offered for ``OVERLOAD_S`` (60) seconds. Posts must be
   accepted (201) and wait as pending: no 5xx, no 503, no hang, nothing lost. Every crisis
   post offered during the overload must reach crisis staff; how fast is printed against the
   2 s budget (``crisis_budget_met``), which this 2-core machine does not meet yet (README).
3. **Drain**: the load goes back to a trickle; ``recovery_s`` is the time until every post
   accepted so far is decided at its latest version. Then the books (nothing lost or doubled).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest

from services.common.embedded.kafka import default_cache_dir
from tests.support.synthetic_models import cached_bert_base_checkpoint
from tests.reliability.conftest import CRISIS_BUDGET_S, INSTANCES, emit
from tests.support.processes import ServiceGroup

SATURATE_RATE = float(os.environ.get("HAVEN_RELIABILITY_SATURATE_RATE", "100"))
MEASURE_S = 20.0
OVERLOAD_S = float(os.environ.get("HAVEN_RELIABILITY_OVERLOAD_S", "60"))
TRICKLE_RATE = 2.0
# Decisions stored between these seconds of the measuring window: past the workers' warm-up, while saturated.
MEASURED_FROM_S = 8.0

# The decision workers run at a lower CPU priority than everything on the crisis path, as a deployment
# that isolates the crisis screen gives it guaranteed CPU (Kubernetes: a CPU request) and batch scoring
# what is left; on one 2-core host with equal shares, 2 bert-base workers starve the screens: crisis
# p99 53 s measured on 2026-12-06. The sweeper keeps its production default (60 s): the suite's 10 s
# would re-emit the whole backlog every few seconds, load no deployment sees.
DECISION_NICENESS = 10

DECIDED_BETWEEN = "SELECT count(*) FROM moderation.decisions WHERE created_at >= $1 AND created_at < $2"


@pytest.fixture(scope="session")
def bert_base_model() -> tuple[Path, Path]:
    """The same checkpoint ``make bench`` builds (shared cache; ~440 MB, built once per machine)."""
    return cached_bert_base_checkpoint(default_cache_dir(os.environ) / "bench" / "bert-base")


@pytest.mark.timeout(1200)
async def test_twice_capacity_for_a_minute(open_run, postgres, kafka, bert_base_model, tmp_path: Path) -> None:
    checkpoint, config_dir = bert_base_model
    async with open_run("overload", admin_dsn=postgres.dsn(), bootstrap_servers=kafka.bootstrap_servers,
                        env={"PENDING_SWEEP_SECONDS": "60"},
                        per_service={"moderation": {"MODERATION_CONSUMERS": "crisis"}}) as run:
        decisions = ServiceGroup("moderation", {
            **run.services["moderation"].env, "MODERATION_CONSUMERS": "decisions",
            "DETOXIFY_CHECKPOINT": str(checkpoint), "DETOXIFY_HF_CONFIG_PATH": str(config_dir),
        }, tmp_path / "decision-workers", INSTANCES, nice=DECISION_NICENESS)
        try:
            await decisions.start()
            # 1. capacity: saturated, decisions per second past the warm-up
            await run.start_load(rate=SATURATE_RATE)
            window_start = await run.db.fetchval("SELECT now() + make_interval(secs => $1)", MEASURED_FROM_S)
            await run.wait_seconds_of_load(MEASURE_S)
            window_end = await run.db.fetchval("SELECT now()")
            decided = await run.db.fetchval(DECIDED_BETWEEN, window_start, window_end)
            capacity = decided / (window_end - window_start).total_seconds()
            assert capacity > 0, "the decision workers decided nothing while saturated"

            # 2. twice the capacity for a minute
            run.load.rate = 2 * capacity
            overload_from = len(run.load.stats.accepted)
            started = time.monotonic()
            await run.wait_seconds_of_load(OVERLOAD_S)
            offered_s = time.monotonic() - started
            during = list(run.load.stats.accepted)[overload_from:]
            pending = await run.db.fetchval("SELECT count(*) FROM forum.posts WHERE status = 'pending'")
            assert pending > capacity * 10, f"overloaded: {pending} posts waiting (capacity {capacity:.1f}/s)"
            crisis = [p for p in during if run.load.stats.accepted[p] == "crisis"]
            assert len(crisis) >= 5, run.load.stats.summary()
            paged = await run.crisis_paging(crisis, what="every crisis post of the overload paged")

            # 3. drain
            run.load.rate = TRICKLE_RATE
            drained = run.watch_recovery(timeout=600)
            drain_s = await drained
            assert not math.isnan(drain_s), "the backlog drained"
            statuses = run.load.stats.statuses
            refused = sum(n for (op, status), n in statuses.items() if status in (500, 502, 503, 504))
            emit(run.terminal, f"scenario=overload capacity_per_s={capacity:.1f} "
                               f"offered_per_s={len(during) / offered_s:.1f} backlog={pending} "
                               f"crisis_paged={paged.count} p50_s={paged.p50:.2f} p99_s={paged.p99:.2f} "
                               f"drain_s={drain_s:.1f} refused={refused} "
                               f"crisis_budget_met={'yes' if paged.p99 < CRISIS_BUDGET_S else 'no'}")
            assert refused == 0, f"posts refused under overload: {run.load.stats.summary()}"
            # Every crisis post was paged (crisis_paging waited for each). Within the 2 s budget it is not,
            # yet: p99 25 s on 2026-12-06 with the decision workers niced, 53 s without; the line says which,
            # and the README (tests/reliability/README.md, "Overload") records it as open, not as met.
            await run.finish(settle_timeout=300)
        finally:
            await decisions.stop()
