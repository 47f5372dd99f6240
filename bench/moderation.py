"""Stage 5: moderation throughput — the worker (1 and 2 processes) beside raw ``Detoxify.predict``, fp32 and int8.

What is measured, on the same texts and batch size, with the same torch thread count:

* ``raw_fp32`` / ``raw_int8`` — ``detoxify.Detoxify(checkpoint=...).predict(batch)``, batches in input
  order (what a naive service would call); int8 = the same model after ``quantize_dynamic`` of its Linear layers;
* ``model_fp32`` / ``model_int8`` — :meth:`ToxicityModel.predict` on the same micro-batches (length buckets
  within each, at most ``DETOXIFY_BATCH_TOKENS`` padded tokens per forward pass);
* ``rules`` — the rule detectors alone (crisis, abuse, sourcing, privacy), per post;
* ``detectors_policy`` — ``Detectors.run`` + ``decide`` (no database);
* ``worker_fp32`` / ``worker_int8`` — ``PostsHandler.prepare`` on each batch, then, per post, the consumer's
  inbox insert and ``apply`` (decision, escalation, queue item, outbox rows) in one transaction, on PostgreSQL:
  the whole worker but Kafka; ``worker_*_2proc`` — two such processes, each on half of the corpus with half
  the torch threads, started together (aggregate texts/s).

The model is a random bert-base-shaped Detoxify checkpoint (built once, ~440 MB, cached under
``~/.cache/haven/bench``): the real ``original`` weights have the same shape and cost, so the speed holds for
them; the scores do not (its wide random initialisation also exaggerates int8's score error, so judge int8's
agreement on real weights: ``classify --int8 --report``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import statistics
import time
import uuid
import warnings
from pathlib import Path

from bench.common import CACHE, QUICK, progress
from tests.support.synthetic_models import cached_bert_base_checkpoint

POSTS = int(os.environ.get("BENCH_POSTS", "16" if QUICK else "160"))
BATCH = int(os.environ.get("DETOXIFY_BATCH_SIZE", "16"))
BATCH_TOKENS = int(os.environ.get("DETOXIFY_BATCH_TOKENS", "512"))
THREADS = int(os.environ.get("TORCH_THREADS", str(os.cpu_count() or 1)))

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
    if not (directory / "config" / "config.json").is_file():
        progress(f"bench: building a bert-base-shaped checkpoint in {directory} (once; ~440 MB)")
    return cached_bert_base_checkpoint(directory)


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


def bench_raw(texts: list[str], checkpoint: Path, config_dir: Path, repeat: int, quantize: bool = False,
              threads: int = THREADS) -> dict:
    import torch
    from detoxify import Detoxify

    torch.set_num_threads(threads)
    detox = Detoxify(checkpoint=str(checkpoint), huggingface_config_path=str(config_dir), device="cpu")
    if quantize:
        with warnings.catch_warnings():  # torch 2.15 marks torch.ao.quantization deprecated (moved to torchao)
            warnings.simplefilter("ignore")
            detox.model = torch.ao.quantization.quantize_dynamic(detox.model, {torch.nn.Linear}, dtype=torch.qint8)
        detox.model.eval()

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
    from services.moderation.detectors.pipeline import Detectors

    detectors = Detectors(toxicity=None, crisis=CrisisDetector())  # type: ignore[arg-type]
    seconds = timed(lambda: [detectors.rule_signals(t) for t in texts], repeat)
    return {"seconds": round(seconds, 4), "posts_per_s": rate(len(texts), seconds),
            "ms_per_post": round(1000 * seconds / len(texts), 3)}


async def bench_detectors_policy(texts: list[str], scorer) -> dict:
    from services.moderation.detectors.pipeline import Detectors
    from services.moderation.policy import Policy, decide

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
    from services.common.handlers import Dispatch
    from services.common.service import migrate
    from services.moderation.config import SCHEMA
    from services.moderation.detectors.pipeline import Detectors
    from services.moderation.handlers import PostsHandler
    from services.moderation.main import MIGRATIONS
    from services.moderation.policy import Policy

    admin = await asyncpg.connect(dsn)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    database = dsn.rsplit("/", 1)[0] + f"/{name}"
    await migrate(database, SCHEMA, MIGRATIONS)
    pool = await create_pool(database, SCHEMA, min_size=2, max_size=4)
    handler = PostsHandler(Detectors(scorer), Policy(), 120, pool=pool)
    dispatch = Dispatch(handler)
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
                        await dispatch.apply(conn, event)
        seconds = time.perf_counter() - started
        lead = await pool.fetchval("""
            SELECT avg(extract(epoch FROM d.created_at - e.opened_at)) FROM escalations e
            JOIN decisions d ON d.post_id = e.post_id""")
        counts = {r["outcome"]: r["n"] for r in await pool.fetch(
            "SELECT outcome, count(*) AS n FROM decisions GROUP BY outcome")}
        outbox = await pool.fetchval("SELECT count(*) FROM outbox")
        escalations = await pool.fetchval("SELECT count(*) FROM escalations")
    finally:
        await pool.close()
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {"seconds": round(seconds, 3), "posts_per_s": rate(len(texts), seconds), "outcomes": counts,
            "outbox_rows": outbox, "escalations": escalations,
            "escalation_lead_ms": round(1000 * float(lead), 1) if lead is not None else None}




def encoder_stage() -> dict:
    """The crisis encoder's CPU per post beside Detoxify's (bert-base, fp32), same texts, batches, threads, runtime.

    Both run as the service runs them (``LearnedDetector.detect``: every window, the heads and the nearest
    examples; ``ToxicityModel.predict``: length buckets), torch fp32 on the CPU, one after the other.
    """
    from services.moderation.detectors.encoder import EncoderConfig, default_cache_dir
    from services.moderation.detectors.learned import LearnedConfig, LearnedDetector

    import torch

    texts = corpus(POSTS, seed=13)
    repeat = 1 if QUICK else 3
    torch.set_num_threads(THREADS)
    checkpoint, config_dir = model_files()
    detoxify, _ = bench_model(texts, checkpoint, config_dir, repeat, quantize=False)
    detector = LearnedDetector.load(LearnedConfig(EncoderConfig(cache_dir=str(default_cache_dir(os.environ)),
                                                                batch_size=BATCH)))

    def run():
        for start in range(0, len(texts), BATCH):
            detector.detect(texts[start:start + BATCH])

    seconds = timed(run, repeat, warm=lambda: detector.detect(texts[:BATCH]))
    encoder = {"seconds": round(seconds, 3), "posts_per_s": rate(len(texts), seconds)}
    share = detoxify["posts_per_s"] / encoder["posts_per_s"]
    progress(f"  encoder {encoder['posts_per_s']} texts/s, Detoxify bert-base fp32 {detoxify['posts_per_s']} texts/s: "
             f"the encoder costs {share:.1%} of Detoxify's CPU per post")
    return {"posts": len(texts), "batch": BATCH, "torch_threads": THREADS, "runtime": "torch fp32 CPU",
            "encoder_posts_per_s": encoder["posts_per_s"], "detoxify_posts_per_s": detoxify["posts_per_s"],
            "encoder_cpu_share_of_detoxify": round(share, 4)}


def _scorer(checkpoint: Path, config_dir: Path, quantize: bool, threads: int):
    from services.moderation.detectors.toxicity import ToxicityConfig, ToxicityScorer

    return ToxicityScorer.from_config(ToxicityConfig(
        checkpoint=str(checkpoint), huggingface_config_path=str(config_dir), torch_threads=threads,
        batch_size=BATCH, quantize=quantize, max_batch_tokens=BATCH_TOKENS))


def _worker_child(texts, checkpoint, config_dir, quantize, threads, dsn, barrier, results) -> None:
    """One worker process of the 2-process run: load, wait for the sibling, run its half."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    async def go():
        scorer = _scorer(checkpoint, config_dir, quantize, threads)
        await scorer.start()
        try:
            await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
            return await bench_worker(texts, scorer, dsn)
        finally:
            await scorer.close()

    results.put(asyncio.run(go()))


def worker_processes(texts: list[str], checkpoint: Path, config_dir: Path, quantize: bool, dsn: str,
                     processes: int = 2) -> dict:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    threads = max(1, THREADS // processes)
    children = [ctx.Process(target=_worker_child, args=(texts[k::processes], checkpoint, config_dir, quantize,
                                                         threads, dsn, barrier, results)) for k in range(processes)]
    for child in children:
        child.start()
    outs = [results.get(timeout=900) for _ in children]
    for child in children:
        child.join()
    seconds = max(o["seconds"] for o in outs)
    return {"processes": processes, "torch_threads_each": threads, "seconds": seconds,
            "posts_per_s": rate(len(texts), seconds)}


async def worker_runs(texts: list[str], checkpoint: Path, config_dir: Path, dsn: str) -> dict:
    results = {}
    for label, quantize in (("fp32", False), ("int8", True)):
        scorer = _scorer(checkpoint, config_dir, quantize, THREADS)
        await scorer.start()
        try:
            results[f"detectors_policy_{label}"] = await bench_detectors_policy(texts, scorer)
            results[f"worker_{label}"] = await bench_worker(texts, scorer, dsn)
        finally:
            await scorer.close()
        progress(f"  worker {label} (1 process): {results[f'worker_{label}']['posts_per_s']} texts/s")
        results[f"worker_{label}_2proc"] = await asyncio.get_running_loop().run_in_executor(
            None, worker_processes, texts, checkpoint, config_dir, quantize, dsn)
        progress(f"  worker {label} (2 processes): {results[f'worker_{label}_2proc']['posts_per_s']} texts/s")
    return results


def run_stage(dsn: str) -> dict:
    """All of stage 5; returns the JSON ``moderation`` section (with the detail under ``detail``)."""
    texts = corpus(POSTS)
    repeat = 1 if QUICK else 2
    checkpoint, config_dir = model_files()
    progress(f"moderation: {len(texts)} posts (mean {statistics.mean(map(len, texts)):.0f} chars), batch {BATCH} "
             f"(<= {BATCH_TOKENS} tokens), {THREADS} torch threads")
    r: dict = {}
    r["rules"] = bench_rules(texts, repeat)
    progress(f"  rules {r['rules']['posts_per_s']} texts/s")
    for label, quantize in (("fp32", False), ("int8", True)):
        r[f"raw_{label}"] = bench_raw(texts, checkpoint, config_dir, repeat, quantize)
        progress(f"  raw Detoxify.predict {label}: {r[f'raw_{label}']['posts_per_s']} texts/s")
    r["model_fp32"], fp32 = bench_model(texts, checkpoint, config_dir, repeat, quantize=False)
    progress(f"  ToxicityModel fp32: {r['model_fp32']['posts_per_s']} texts/s")
    r["model_int8"], int8 = bench_model(texts, checkpoint, config_dir, repeat, quantize=True)
    progress(f"  ToxicityModel int8: {r['model_int8']['posts_per_s']} texts/s")
    diffs = [abs(a[k] - b[k]) for a, b in zip(fp32, int8) for k in a]
    r["int8_vs_fp32_abs_diff"] = {"max": round(max(diffs), 4), "mean": round(statistics.mean(diffs), 5),
                                  "texts": len(fp32)}
    r.update(asyncio.run(worker_runs(texts, checkpoint, config_dir, dsn)))
    section = {"batch": BATCH, "torch_threads": THREADS, "posts": len(texts),
               "mean_chars": round(statistics.mean(map(len, texts)))}
    for label in ("fp32", "int8"):
        section[f"raw_{label}"] = r[f"raw_{label}"]["posts_per_s"]
        section[f"worker_{label}"] = r[f"worker_{label}"]["posts_per_s"]
        section[f"worker_{label}_2proc"] = r[f"worker_{label}_2proc"]["posts_per_s"]
        section[f"worker_{label}_ratio"] = round(section[f"worker_{label}"] / section[f"raw_{label}"], 3)
    section["int8_speedup_raw"] = round(section["raw_int8"] / section["raw_fp32"], 2)
    section["int8_speedup_worker"] = round(section["worker_int8"] / section["worker_fp32"], 2)
    section["int8_score_drift"] = r["int8_vs_fp32_abs_diff"]
    section["detail"] = r
    return section
