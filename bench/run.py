"""Haven's benchmarks (``make bench``; ``make bench QUICK=1`` for a smoke run under 5 minutes).

Starts its own embedded PostgreSQL and Kafka (or uses ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS``), runs
the stages described in bench/README.md, each beside its bare baseline in the same run, writes
``bench/results/<UTC date>[-quick].json`` and PNG plots next to it.

Environment: ``QUICK=1``; ``BENCH_STAGES`` (comma list of api, decision, crisis, crisis40, crisis-down, pipes, moderation, encoder; default
all); ``BENCH_STACK_INT8`` (default 1: the stack's moderation service runs the int8 model);
``BENCH_PROFILE=1`` (py-spy records each service during the decision stage, SVGs in bench/results/profiles/);
the stage knobs named in bench/system.py and bench/moderation.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=DeprecationWarning)  # quantize_dynamic (torch 2.15); not in tests

from bench.common import QUICK, RESULTS, machine, progress  # noqa: E402

ALL_STAGES = ("api", "decision", "crisis", "crisis40", "crisis-down", "pipes", "moderation", "encoder")
STAGES = [s.strip() for s in os.environ.get("BENCH_STAGES", ",".join(ALL_STAGES)).split(",") if s]


def profile(pids: dict[str, int], seconds: float, into: Path) -> list[subprocess.Popen]:
    """py-spy record of each service while the stage runs (needs ptrace rights)."""
    into.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return [subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
                              "--nonblocking", "--format", "raw", "-o", str(into / f"{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in pids.items()]


def main() -> int:
    from bench import moderation, plots, system
    from bench.stack import Infra

    started = time.monotonic()
    record: dict = {"when": datetime.now(timezone.utc).isoformat(), "quick": QUICK, "machine": machine(),
                    "stages": STAGES}
    progress(f"bench: {'QUICK' if QUICK else 'full'} run, stages {', '.join(STAGES)}; "
             f"machine {record['machine'].get('cpu_model', '?')} x{record['machine']['cpus']}")
    model = moderation.model_files()
    stack_int8 = os.environ.get("BENCH_STACK_INT8", "1") not in ("", "0")
    moderation_env = {"DETOXIFY_INT8": "1" if stack_int8 else "0",
                      "TORCH_THREADS": os.environ.get("BENCH_STACK_TORCH_THREADS", "1")}
    record["stack"] = {"model": "random bert-base-shaped Detoxify checkpoint", **moderation_env}
    texts = moderation.corpus(400, seed=5)
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as directory:
        workdir = Path(directory)
        infra = Infra(workdir)
        try:
            infra.start()
            logdir = RESULTS / "logs"
            if "api" in STAGES:
                progress("stage 1/5: create-post API beside a bare aiohttp + asyncpg handler")
                record["create_post"] = system.stage_create_post(infra, model, logdir, texts)
            if {"decision", "crisis", "crisis40"} & set(STAGES):
                progress("stage 2-3: starting forum, moderation, notifications")
                with system.FullStack(infra, model, logdir, moderation_env) as stack:
                    record["stack"]["pids"] = stack.pids()
                    if "decision" in STAGES:
                        progress("stage 2/5: post -> decision applied")
                        spies = []
                        if os.environ.get("BENCH_PROFILE"):
                            length = len(system.DECISION_RATES) * (system.DECISION_SECONDS + system.DECISION_WARMUP + 5)
                            spies = profile(stack.pids(), length, RESULTS / "profiles")
                        record["decision_latency"] = asyncio.run(system.decision_latency(stack, texts))
                        for spy in spies:
                            spy.wait()
                    if "crisis" in STAGES:
                        progress("stage 3/5: crisis post -> SSE on a connected crisis worker")
                        record["crisis_push"] = asyncio.run(system.crisis_push(stack, texts))
                    if "crisis40" in STAGES:
                        progress(f"stage 3b: crisis post -> SSE with {system.SATURATING_RATE:g} posts/s offered "
                                 "(past the toxicity worker's capacity)")
                        record["crisis_push_saturated"] = asyncio.run(
                            system.crisis_push(stack, texts, background_rate=system.SATURATING_RATE))
            if "crisis-down" in STAGES:
                progress("stage 3c: crisis post -> SSE with the toxicity worker stopped (the crisis screen alone)")
                with system.FullStack(infra, model, logdir, {**moderation_env, "MODERATION_CONSUMERS": "crisis"},
                                      database="haven_crisis_only") as stack:
                    record["crisis_push_toxicity_down"] = asyncio.run(system.crisis_push(stack, texts))
            if "pipes" in STAGES:
                progress("stage 4/5: outbox relay and consumer loop beside bare aiokafka")
                record["pipes"] = asyncio.run(system.pipes(infra, infra.database("haven")))
            if "moderation" in STAGES:
                progress("stage 5/5: moderation throughput beside raw Detoxify.predict")
                record["moderation"] = moderation.run_stage(infra.dsn_admin)
            if "encoder" in STAGES:
                progress("stage 6: the crisis encoder's CPU per post beside Detoxify bert-base (torch fp32)")
                record["encoder"] = moderation.encoder_stage()
        finally:
            infra.stop()
    record["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    partial = "" if set(STAGES) >= set(ALL_STAGES) else "-" + "-".join(STAGES)
    stem = f"{datetime.now(timezone.utc):%Y-%m-%d}{'-quick' if QUICK else ''}{partial}"  # a subset never overwrites
    out = RESULTS / f"{stem}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    progress(f"wrote {out}")
    for path in plots.plot(record, RESULTS, stem):
        progress(f"wrote {path}")
    progress(f"bench: done in {record['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
