"""Moderation throughput: the worker beside raw ``Detoxify.predict``, fp32 and int8, on one corpus, in one run.

    make bench              # full: 512 posts
    make bench QUICK=1      # a couple of minutes: 96 posts

What is measured, on the same texts and batch size, with the same torch thread count:

* ``raw_detoxify``  — ``detoxify.Detoxify(checkpoint=...).predict(batch)``, batches in input order
                      (what a naive service would call);
* ``model_fp32``    — :meth:`ToxicityModel.predict` on the same micro-batches (length buckets within
                      each, at most ``DETOXIFY_BATCH_TOKENS`` padded tokens per forward pass);
* ``model_int8``    — the same with ``ToxicityConfig(quantize=True)`` (``DETOXIFY_INT8=1``);
* ``rules``         — the rule detectors alone (crisis, abuse, sourcing, privacy), per post;
* ``detectors_policy`` — ``Detectors.run`` + ``decide`` (no database);
* ``worker_fp32`` / ``worker_int8`` — ``PostHandler.prepare`` on each batch, then, per post, the
                      consumer's inbox insert and ``apply`` (decision, escalation, queue item, outbox
                      rows) in one transaction, on an embedded PostgreSQL — the whole worker but Kafka.

The model is a random bert-base-shaped Detoxify checkpoint (built once, ~440 MB, cached under
``~/.cache/haven/bench``): the real ``original`` weights have the same shape and cost, so the speed
holds for them; the scores do not (its wide random initialisation also exaggerates int8's score error,
so judge int8's agreement on real weights: ``classify --int8 --report``). With random scores nearly
every post is held, so the worker writes a queue item for each: the database side is at its heaviest.
Results go to ``bench/results/<UTC date>.json``.

Environment: ``TORCH_THREADS`` (default: all cores), ``DETOXIFY_BATCH_SIZE`` (default 16),
``DETOXIFY_BATCH_TOKENS`` (default 512),
``BENCH_POSTS`` (overrides the corpus size), ``QUICK=1``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from services.moderation.detectors.synthetic import build_bert_base_checkpoint  # noqa: E402

QUICK = os.environ.get("QUICK", "") not in ("", "0")
POSTS = int(os.environ.get("BENCH_POSTS", "96" if QUICK else "512"))
BATCH = int(os.environ.get("DETOXIFY_BATCH_SIZE", "16"))
BATCH_TOKENS = int(os.environ.get("DETOXIFY_BATCH_TOKENS", "512"))
THREADS = int(os.environ.get("TORCH_THREADS", str(os.cpu_count() or 1)))
CACHE = Path(os.environ.get("HAVEN_BENCH_CACHE", Path.home() / ".cache" / "haven" / "bench"))
RESULTS = Path(__file__).parent / "results"

SENTENCES = [
    "Day 40 today and I finally slept through the night.", "My sponsor told me to call before I pick up.",
    "These cravings hit hardest around six in the evening.", "Went to two meetings this week, both online.",
    "Anyone else find weekends harder than weekdays?", "I relapsed on Saturday but I told my group.",
    "Coming off methadone slowly with my doctor, down to 30mg.", "Naloxone is free at the pharmacy here.",
    "My kids are visiting on Sunday and I am nervous.", "Thank you all for the support last night.",
    "I used to think I could quit alone, I was wrong.", "Work stress is the big trigger for me.",
    "Tea and long walks help more than I expected.", "The first week off alcohol was brutal.",
    "I keep a list of reasons in my wallet.", "Does anyone have tips for sober holidays?",
    "you are an idiot and nobody wants you here", "anyone selling percs near campus? dm me",
    "call me at 617-555-0123 if you want to talk", "I have the pills ready and I'm taking all of them tonight",
    "Some days I just want to disappear for a while.", "Grateful for this group, truly.",
]


def corpus(n: int, seed: int = 11) -> list[str]:
    """Posts of realistic, mixed lengths: most a few sentences, some long (up to ~20 sentences)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        k = min(20, max(1, int(rng.expovariate(1 / 4)) + 1))
        texts.append(" ".join(rng.choice(SENTENCES) for _ in range(k)))
    return texts


def model_files() -> tuple[Path, Path]:
    directory = CACHE / "bert-base"
    checkpoint, config_dir = directory / "detoxify-bert-base.ckpt", directory / "config"
    if not checkpoint.is_file() or not (config_dir / "config.json").is_file():
        print(f"bench: building a bert-base-shaped checkpoint in {directory} (once; ~440 MB)", flush=True)
        checkpoint, config_dir = build_bert_base_checkpoint(directory)
    return checkpoint, config_dir


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else float("inf")


def timed(fn, repeat: int, warm=None) -> float:
    """Median of ``repeat`` runs, after one warm-up call (``warm``, or ``fn`` itself)."""
    (warm or fn)()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def bench_raw(texts: list[str], checkpoint: Path, config_dir: Path, repeat: int) -> dict:
    import torch
    from detoxify import Detoxify

    torch.set_num_threads(THREADS)
    detox = Detoxify(checkpoint=str(checkpoint), huggingface_config_path=str(config_dir), device="cpu")

    def run(items=texts):
        for start in range(0, len(items), BATCH):
            detox.predict(items[start:start + BATCH])

    seconds = timed(run, repeat, warm=lambda: run(texts[:BATCH]))
    return {"seconds": round(seconds, 3), "posts_per_s": rate(len(texts), seconds)}


def bench_model(texts: list[str], checkpoint: Path, config_dir: Path, repeat: int, quantize: bool) -> tuple[dict, list]:
    from services.moderation.detectors.toxicity import ToxicityConfig, ToxicityModel

    model = ToxicityModel(ToxicityConfig(checkpoint=str(checkpoint), huggingface_config_path=str(config_dir),
                                         torch_threads=THREADS, batch_size=BATCH, quantize=quantize,
                                         max_batch_tokens=BATCH_TOKENS))
    started = time.perf_counter()
    model.load()
    load_seconds = time.perf_counter() - started
    scores: list = []

    def run():
        scores.clear()
        for start in range(0, len(texts), BATCH):  # the worker's micro-batches
            scores.extend(model.predict(texts[start:start + BATCH]))

    seconds = timed(run, repeat, warm=lambda: model.predict(texts[:BATCH]))
    return ({"seconds": round(seconds, 3), "posts_per_s": rate(len(texts), seconds),
             "load_seconds": round(load_seconds, 2)}, list(scores))


def bench_rules(texts: list[str], repeat: int) -> dict:
    from services.moderation.detectors.crisis import CrisisDetector
    from services.moderation.worker import Detectors

    detectors = Detectors(toxicity=None, crisis=CrisisDetector())  # type: ignore[arg-type]
    seconds = timed(lambda: [detectors.rule_signals(t) for t in texts], repeat)
    return {"seconds": round(seconds, 4), "posts_per_s": rate(len(texts), seconds),
            "ms_per_post": round(1000 * seconds / len(texts), 3)}


async def bench_detectors_policy(texts: list[str], scorer) -> dict:
    from services.moderation.policy import Policy, decide
    from services.moderation.worker import Detectors

    detectors, policy = Detectors(scorer), Policy()
    await detectors.run(texts[:BATCH])  # warm
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        batch = texts[start:start + BATCH]
        for text, signals in zip(batch, await detectors.run(batch)):
            decide(policy, text, signals)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "posts_per_s": rate(len(texts), seconds)}


async def bench_worker(texts: list[str], scorer, dsn: str) -> dict:
    """prepare + (inbox insert + apply) per post, as ConsumerLoop does, minus Kafka."""
    import asyncpg

    from services.common.db import create_pool
    from services.common.envelope import Event
    from services.common.service import migrate
    from services.moderation.config import SCHEMA, ReviewSettings
    from services.moderation.main import MIGRATIONS
    from services.moderation.policy import Policy
    from services.moderation.worker import Detectors, PostHandler

    admin = await asyncpg.connect(dsn)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    database = dsn.rsplit("/", 1)[0] + f"/{name}"
    await migrate(database, SCHEMA, MIGRATIONS)
    pool = await create_pool(database, SCHEMA, min_size=2, max_size=4)
    handler = PostHandler(Detectors(scorer), Policy(), 120, ReviewSettings(), pool=pool)
    events = [Event.create("post.created", key=str(uuid.uuid4()), producer="forum", data={
        "post_id": str(uuid.uuid4()), "thread_id": str(uuid.uuid4()), "community": "general",
        "author_id": str(uuid.uuid4()), "version": 1, "body": text, "title": None}) for text in texts]
    inbox = "INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING " \
            "RETURNING event_id"
    try:
        started = time.perf_counter()
        for start in range(0, len(events), BATCH):
            batch = events[start:start + BATCH]
            await handler.prepare(batch)
            for event in batch:
                async with pool.acquire() as conn, conn.transaction():
                    if await conn.fetchval(inbox, "moderation-posts", event.id, event.type) is not None:
                        await handler.apply(conn, event)
        seconds = time.perf_counter() - started
        lead = await pool.fetchval("""
            SELECT avg(extract(epoch FROM d.created_at - e.opened_at)) FROM escalations e
            JOIN decisions d ON d.post_id = e.post_id""")
        counts = {r["outcome"]: r["n"] for r in await pool.fetch(
            "SELECT outcome, count(*) AS n FROM decisions GROUP BY outcome")}
        outbox = await pool.fetchval("SELECT count(*) FROM outbox")
    finally:
        await pool.close()
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {"seconds": round(seconds, 3), "posts_per_s": rate(len(texts), seconds), "outcomes": counts,
            "outbox_rows": outbox, "escalations": handler.early_escalations,
            "escalation_lead_ms": round(1000 * float(lead), 1) if lead is not None else None}


async def worker_runs(texts: list[str], checkpoint: Path, config_dir: Path) -> dict:
    from services.common.embedded.postgres import EmbeddedPostgres
    from services.moderation.detectors.toxicity import ToxicityConfig, ToxicityScorer

    results = {}
    with tempfile.TemporaryDirectory(prefix="haven-bench-pg-") as directory:
        postgres = EmbeddedPostgres(Path(directory) / "pg")
        postgres.start()
        try:
            for label, quantize in (("fp32", False), ("int8", True)):
                scorer = ToxicityScorer.from_config(ToxicityConfig(
                    checkpoint=str(checkpoint), huggingface_config_path=str(config_dir), torch_threads=THREADS,
                    batch_size=BATCH, quantize=quantize, max_batch_tokens=BATCH_TOKENS))
                await scorer.start()
                try:
                    results[f"detectors_policy_{label}"] = await bench_detectors_policy(texts, scorer)
                    results[f"worker_{label}"] = await bench_worker(texts, scorer, postgres.dsn())
                finally:
                    await scorer.close()
        finally:
            postgres.stop()
    return results


def main() -> int:
    import torch

    texts = corpus(POSTS)
    repeat = 1 if QUICK else 2
    checkpoint, config_dir = model_files()
    print(f"bench: {len(texts)} posts (mean {statistics.mean(map(len, texts)):.0f} chars), batch {BATCH} "
          f"(<= {BATCH_TOKENS} tokens), "
          f"{THREADS} torch threads, {'QUICK' if QUICK else 'full'}", flush=True)
    results: dict = {}
    results["rules"] = bench_rules(texts, repeat)
    print(f"  rules                {results['rules']['posts_per_s']:>9} posts/s", flush=True)
    results["raw_detoxify"] = bench_raw(texts, checkpoint, config_dir, repeat)
    print(f"  raw Detoxify.predict {results['raw_detoxify']['posts_per_s']:>9} posts/s", flush=True)
    results["model_fp32"], fp32 = bench_model(texts, checkpoint, config_dir, repeat, quantize=False)
    print(f"  model fp32           {results['model_fp32']['posts_per_s']:>9} posts/s", flush=True)
    results["model_int8"], int8 = bench_model(texts, checkpoint, config_dir, repeat, quantize=True)
    print(f"  model int8           {results['model_int8']['posts_per_s']:>9} posts/s", flush=True)
    diffs = [abs(a[k] - b[k]) for a, b in zip(fp32, int8) for k in a]
    results["int8_vs_fp32_abs_diff"] = {"max": round(max(diffs), 4), "mean": round(statistics.mean(diffs), 5)}
    results.update(asyncio.run(worker_runs(texts, checkpoint, config_dir)))
    for key in ("detectors_policy_fp32", "worker_fp32", "detectors_policy_int8", "worker_int8"):
        print(f"  {key:<20} {results[key]['posts_per_s']:>9} posts/s", flush=True)
    raw = results["raw_detoxify"]["posts_per_s"]
    ratios = {
        "model_fp32 / raw": results["model_fp32"]["posts_per_s"] / raw,
        "model_int8 / model_fp32": results["model_int8"]["posts_per_s"] / results["model_fp32"]["posts_per_s"],
        "worker_fp32 / raw": results["worker_fp32"]["posts_per_s"] / raw,
        "worker_int8 / raw": results["worker_int8"]["posts_per_s"] / raw,
        "worker_fp32 / model_fp32": results["worker_fp32"]["posts_per_s"] / results["model_fp32"]["posts_per_s"],
    }
    results["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    print("ratios:")
    for name, value in results["ratios"].items():
        print(f"  {name:<26} {value:.2f}x")
    diff = results["int8_vs_fp32_abs_diff"]
    print(f"int8 vs fp32 scores: max |diff| {diff['max']}, mean {diff['mean']} (random weights: the speed carries "
          "over to the real model, the agreement does not; check int8 on real weights with classify --int8 --report)")
    lead = results["worker_fp32"].get("escalation_lead_ms")
    if lead is not None:
        print(f"crisis escalation committed {lead:.0f} ms (mean) before its decision (fp32 worker)")
    record = {"when": datetime.now(timezone.utc).isoformat(), "quick": QUICK, "posts": len(texts),
              "mean_chars": round(statistics.mean(map(len, texts))), "batch_size": BATCH, "batch_tokens": BATCH_TOKENS, "torch_threads": THREADS,
              "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "python": platform.python_version(), "torch": torch.__version__},
              "model": "random bert-base-shaped Detoxify checkpoint (110M parameters)", "results": results}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{datetime.now(timezone.utc):%Y-%m-%d}{'-quick' if QUICK else ''}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
