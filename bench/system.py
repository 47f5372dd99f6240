"""Stages 1-4: the create-post API, post -> decision applied, crisis post -> SSE, relay and consumer loop.

Every figure stands beside a bare baseline measured in the same run (see bench/README.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp

from bench.common import QUICK, histogram, line, open_loop, pct_ms, progress, record, summary
from bench.stack import Infra, Service, prepare, service_env, start_process, start_service, free_port

PASSWORD = "correct horse battery staple"
USERS = 8
P99_TARGET_MS = float(os.environ.get("BENCH_P99_MS", "100"))
API_RATES = [float(r) for r in os.environ.get(
    "BENCH_API_RATES", "100,200,400" if QUICK else "100,200,300,400,600,800").split(",")]
API_SECONDS, API_WARMUP = (4.0, 1.0) if QUICK else (15.0, 3.0)
DECISION_RATES = [float(r) for r in os.environ.get("BENCH_DECISION_RATES", "5,10,20,40").split(",")]
DECISION_SECONDS, DECISION_WARMUP = (5.0, 1.0) if QUICK else (30.0, 5.0)
DRAIN_SECONDS = 10.0 if QUICK else 60.0
CRISIS_POSTS = 8 if QUICK else 40
CRISIS_BACKGROUND_RATE = float(os.environ.get("BENCH_CRISIS_BACKGROUND_RATE", "10"))
# Past the toxicity worker's capacity on 2 cores (bert-base int8: about 40 posts/s at best): the crisis screen
# must page at once while the decisions queue up behind Detoxify.
SATURATING_RATE = float(os.environ.get("BENCH_SATURATING_RATE", "40"))
PIPE_EVENTS = int(os.environ.get("BENCH_PIPE_EVENTS", "3000" if QUICK else "20000"))
CRISIS_TEXT = "I have the pills ready and I'm taking all of them tonight. Goodbye everyone."


class Client:
    """Accounts and threads on one forum; posts round-robin over (account, thread)."""

    def __init__(self, session: aiohttp.ClientSession, forum: str) -> None:
        self.session, self.forum = session, forum
        self.users: list[dict] = []
        self.threads: list[str] = []
        self.errors: Counter = Counter()

    async def setup(self, users: int = USERS) -> None:
        for n in range(users):
            handle = f"bench{n}_{uuid.uuid4().hex[:6]}"
            async with self.session.post(f"{self.forum}/v1/auth/register",
                                         json={"handle": handle, "password": PASSWORD}) as r:
                assert r.status == 201, await r.text()
                body = await r.json()
            auth = {"Authorization": f"Bearer {body['token']}"}
            async with self.session.post(f"{self.forum}/v1/communities/general/threads", headers=auth,
                                         json={"title": f"Check-in {n}", "body": "Day one. Here we go."}) as r:
                assert r.status == 201, await r.text()
                thread = (await r.json())["thread"]["id"]
            self.users.append(auth)
            self.threads.append(thread)

    async def post(self, i: int, text: str) -> tuple[int, str | None]:
        # each account replies in its own thread (another's opening post may still be pending: invisible)
        auth, thread = self.users[i % len(self.users)], self.threads[i % len(self.threads)]
        async with self.session.post(f"{self.forum}/v1/threads/{thread}/posts", json={"body": text},
                                     headers=auth) as r:
            if r.status != 201:
                body = await r.text()
                self.errors[f"{r.status} {body[:120]}"] += 1
                return r.status, None
            return 201, (await r.json())["post"]["id"]


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256), timeout=aiohttp.ClientTimeout(total=60))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and of its threads), in seconds."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def best_at_target(steps: list[dict]) -> dict:
    """The highest throughput among steps whose p99 met the target and that had no errors."""
    good = [s for s in steps if s["p99_ms"] is not None and s["p99_ms"] <= P99_TARGET_MS
            and s["errors"] == 0 and s["shed"] == 0]
    if not good:
        return min(steps, key=lambda s: s["p99_ms"] or float("inf"))
    return max(good, key=lambda s: s["rps"])


# --- stage 1 --------------------------------------------------------------------------------------


async def _api_steps(label: str, fire) -> list[dict]:
    steps = []
    for rate in API_RATES:
        step = await open_loop(rate, API_SECONDS, API_WARMUP, fire, max_inflight=512)
        progress("  " + line(label, step))
        steps.append(step.as_dict())
        await asyncio.sleep(1.0)  # let the relay and autovacuum catch their breath between steps
        if step.as_dict()["p99_ms"] and step.as_dict()["p99_ms"] > 20 * P99_TARGET_MS:
            break  # saturated far past the target: higher rates tell nothing new
    return steps


def stage_create_post(infra: Infra, model, logdir: Path, texts: list[str], extra_env: dict | None = None) -> dict:
    """Forum's POST /v1/threads/{id}/posts (auth, validation, post + revision + outbox row, 201) beside the bare
    handler, both in their own process on their own database; moderation is not running (its CPU would be
    charged to the forum, not the baseline)."""
    dsn = infra.database("bench_api")
    asyncio.run(prepare(dsn, infra.bootstrap, "api."))
    asyncio.run(_ensure_community(dsn))
    extra_env = extra_env or {}
    forum = start_service("forum", service_env(infra, dsn, "api.", model, **extra_env), logdir)
    port = free_port()
    bare = start_process("baseline", [sys.executable, str(Path(__file__).with_name("baseline_app.py")), str(port), dsn],
                         {**os.environ, **extra_env}, logdir, port)
    try:
        forum.wait_ready()
        bare.wait_ready()
        if os.environ.get("BENCH_PROFILE"):  # py-spy on forum for the length of both curves
            from bench.run import profile

            profile({"forum-api": forum.process.pid}, 2 * len(API_RATES) * (API_SECONDS + API_WARMUP + 2) + 10,
                    Path(__file__).with_name("results") / "profiles")
        return asyncio.run(_create_post(forum, bare, texts))
    finally:
        forum.stop()
        bare.stop()


async def _create_post(forum: Service, bare: Service, texts: list[str]) -> dict:
    async with session() as http:
        client = Client(http, forum.url)
        await client.setup()
        baseline_thread = str(uuid.uuid4())

        async def haven(i: int) -> bool:
            status, _ = await client.post(i, texts[i % len(texts)])
            return status == 201

        async def baseline(i: int) -> bool:
            async with http.post(f"{bare.url}/v1/threads/{baseline_thread}/posts",
                                 json={"body": texts[i % len(texts)]}) as r:
                await r.read()
                return r.status == 201

        # alternate the two at each rate would interleave their warm-ups; run each curve whole, baseline first
        # CPU seconds of the server process per request served: much steadier than latency on a busy machine
        cpu = cpu_seconds(bare.process.pid)
        base_steps = await _api_steps("baseline", baseline)
        base_cpu = (cpu_seconds(bare.process.pid) - cpu) / max(1, sum(s["ok"] + s["errors"] for s in base_steps))
        cpu = cpu_seconds(forum.process.pid)
        haven_steps = await _api_steps("haven   ", haven)
        haven_cpu = (cpu_seconds(forum.process.pid) - cpu) / max(1, sum(s["ok"] + s["errors"] for s in haven_steps))
        if client.errors:
            progress(f"  haven errors: {dict(client.errors.most_common(3))}")
    best, base = best_at_target(haven_steps), best_at_target(base_steps)
    result = {"rps": best["rps"], "p99_ms": best["p99_ms"], "baseline_rps": base["rps"],
              "baseline_p99_ms": base["p99_ms"], "p99_target_ms": P99_TARGET_MS,
              "ratio": round(best["rps"] / base["rps"], 3) if base["rps"] else None,
              "cpu_ms_per_request": round(1000 * haven_cpu, 3), "baseline_cpu_ms_per_request": round(1000 * base_cpu, 3),
              "steps": haven_steps, "baseline_steps": base_steps}
    progress(f"create_post: haven {result['rps']} rps @ p99 {result['p99_ms']} ms; baseline {result['baseline_rps']} "
             f"rps @ p99 {result['baseline_p99_ms']} ms (ratio {result['ratio']}, target p99 <= {P99_TARGET_MS:g} ms); "
             f"server CPU per request {result['cpu_ms_per_request']} ms vs {result['baseline_cpu_ms_per_request']} ms")
    return result


# --- stages 2 and 3: the whole stack ----------------------------------------------------------------


class FullStack:
    def __init__(self, infra: Infra, model, logdir: Path, moderation_env: dict[str, str],
                 database: str = "haven") -> None:
        self.infra, self.model, self.logdir, self.moderation_env = infra, model, logdir, moderation_env
        self.database = database
        self.services: dict[str, Service] = {}
        self.dsn = ""

    def __enter__(self) -> "FullStack":
        self.dsn = self.infra.database(self.database)
        asyncio.run(prepare(self.dsn, self.infra.bootstrap, ""))
        env = service_env(self.infra, self.dsn, "", self.model, OUTBOX_POLL_SECONDS="0.5")
        try:
            for name in ("forum", "moderation", "notifications"):
                self.services[name] = start_service(name, {**env, **(self.moderation_env if name == "moderation" else {})},
                                                    self.logdir)
            for service in self.services.values():
                service.wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    def pids(self) -> dict[str, int]:
        return {name: s.process.pid for name, s in self.services.items()}


async def _staff_token(dsn: str, forum: str, http: aiohttp.ClientSession) -> dict:
    from datetime import timedelta

    from services.common.db import close_pool, create_pool
    from services.forum.store import ForumStore

    handle = f"crisis_{uuid.uuid4().hex[:6]}"
    pool = await create_pool(dsn, "forum", min_size=1, max_size=2)
    try:
        store = ForumStore(pool, refresh_ttl=timedelta(days=1))
        await store.ensure_community("general", "General", "")
        await store.create_user(handle, PASSWORD, "crisis_staff")
    finally:
        await close_pool(pool)
    async with http.post(f"{forum}/v1/auth/login", json={"handle": handle, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def _decided(conn, created: dict[str, float], timeout: float) -> tuple[dict[str, float], int]:
    """Wait until every post in ``created`` left pending (or ``timeout``); latency per decided post."""
    ids = [uuid.UUID(p) for p in created]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not await conn.fetchval("SELECT count(*) FROM forum.posts WHERE id = ANY($1) AND status = 'pending'", ids):
            break
        await asyncio.sleep(0.25)
    rows = await conn.fetch("SELECT id, status, extract(epoch FROM updated_at)::float8 AS at FROM forum.posts "
                            "WHERE id = ANY($1)", ids)
    latencies = {str(r["id"]): r["at"] - created[str(r["id"])] for r in rows if r["status"] != "pending"}
    return latencies, len(created) - len(latencies)


async def _ensure_community(dsn: str) -> None:
    from datetime import timedelta

    from services.common.db import close_pool, create_pool
    from services.forum.store import ForumStore

    pool = await create_pool(dsn, "forum", min_size=1, max_size=2)
    try:
        await ForumStore(pool, refresh_ttl=timedelta(days=1)).ensure_community("general", "General", "")
    finally:
        await close_pool(pool)


async def decision_latency(stack: FullStack, texts: list[str]) -> list[dict]:
    import asyncpg

    await _ensure_community(stack.dsn)
    conn = await asyncpg.connect(stack.dsn)
    results = []
    try:
        async with session() as http:
            client = Client(http, stack.services["forum"].url)
            await client.setup()
            # one post through the whole path first: the worker's first batch pays for lazy set-up
            _, first = await client.post(0, "Warming up: day one.")
            await _decided(conn, {first: time.time()}, 60)
            for rate in DECISION_RATES:
                created: dict[str, float] = {}
                skip = int(rate * DECISION_WARMUP)

                async def fire(i: int) -> bool:
                    status, post_id = await client.post(i, texts[i % len(texts)])
                    if post_id is not None and i >= skip:
                        created[post_id] = time.time()
                    return status == 201

                step = await open_loop(rate, DECISION_SECONDS, DECISION_WARMUP, fire, max_inflight=512)
                latencies, lost = await _decided(conn, created, DRAIN_SECONDS)
                hist = histogram()
                for seconds in latencies.values():
                    record(hist, seconds)
                for _ in range(lost):  # undecided at the drain deadline: counted at least that late
                    record(hist, DECISION_SECONDS + DRAIN_SECONDS)
                entry = {"rate": rate, "p50_ms": pct_ms(hist, 50), "p95_ms": pct_ms(hist, 95),
                         "p99_ms": pct_ms(hist, 99), "max_ms": pct_ms(hist, 100), "lost": lost,
                         "posts": len(created), "create_p99_ms": step.as_dict()["p99_ms"],
                         "create_errors": step.errors, "achieved_rps": round(step.rps, 1)}
                results.append(entry)
                progress(f"  decision @ {rate:g}/s: p50={entry['p50_ms']} p95={entry['p95_ms']} p99={entry['p99_ms']} ms "
                         f"lost={lost} of {len(created)} (201 p99 {entry['create_p99_ms']} ms)")
                # the next step starts on an empty pipeline
                await _decided(conn, {p: 0.0 for p in await _pending(conn)}, DRAIN_SECONDS)
    finally:
        await conn.close()
    return results


async def _pending(conn) -> list[str]:
    return [str(r["id"]) for r in await conn.fetch("SELECT id FROM forum.posts WHERE status = 'pending'")]


async def crisis_push(stack: FullStack, texts: list[str], background_rate: float = CRISIS_BACKGROUND_RATE) -> dict:
    """A crisis worker connected to notifications' /v1/stream; crisis posts at 1/s among background posts."""
    async with session() as http:
        forum, notifications = stack.services["forum"].url, stack.services["notifications"].url
        client = Client(http, forum)
        staff = await _staff_token(stack.dsn, forum, http)  # ensures the community too: run alone, it is new
        await client.setup()
        arrived: dict[str, float] = {}
        stream = await http.get(f"{notifications}/v1/stream", headers=staff,
                                timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        assert stream.status == 200, await stream.text()

        async def read() -> None:
            fields: dict[str, str] = {}
            async for raw in stream.content:
                text = raw.decode().rstrip("\r\n")
                if text == "":
                    if fields.get("event") == "crisis.escalation" and "data" in fields:
                        arrived.setdefault(json.loads(fields["data"])["data"]["post_id"], time.time())
                    fields = {}
                elif not text.startswith(":"):
                    name, _, value = text.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value

        reader = asyncio.create_task(read())
        sent: dict[str, float] = {}

        async def background(i: int) -> bool:
            return (await client.post(i, texts[i % len(texts)]))[0] == 201

        async def crisis(i: int) -> bool:
            status, post_id = await client.post(i, f"{CRISIS_TEXT} ({i})")
            if post_id:
                sent[post_id] = time.time()
            return status == 201

        warm = 2.0
        load = asyncio.create_task(open_loop(background_rate, CRISIS_POSTS + warm + 2, warm, background))
        await asyncio.sleep(warm)
        await open_loop(1.0, CRISIS_POSTS, 0.0, crisis)
        await load
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and not set(sent) <= set(arrived):
            await asyncio.sleep(0.1)
        reader.cancel()
        stream.close()
        hist = histogram()
        missing = 0
        for post_id, at in sent.items():
            if post_id in arrived:
                record(hist, arrived[post_id] - at)
            else:
                missing += 1
        result = {**summary(hist), "posts": len(sent), "missing": missing, "background_rate": background_rate}
        progress(f"  crisis push: p50={result['p50_ms']} p99={result['p99_ms']} ms, {len(sent)} crisis posts, "
                 f"missing {missing}, background {background_rate:g} posts/s")
        return result


# --- stage 4: relay and consumer loop beside bare aiokafka -------------------------------------------


async def pipes(infra: Infra, dsn: str, consumer_loop=None) -> dict:
    import asyncpg
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from services.common.consumer import ConsumerLoop
    from services.common.db import create_pool
    from services.common.envelope import Event
    from services.common.kafka import make_producer
    from services.common.outbox import OutboxRelay
    from services.common.topics import TopicNames, ensure_topics

    n = PIPE_EVENTS
    tag = uuid.uuid4().hex[:6]  # fresh topics and consumer groups: a second run in one stack starts clean
    haven_names, bare_names = TopicNames(f"pipe{tag}."), TopicNames(f"bare{tag}.")
    consumer_loop = consumer_loop or ConsumerLoop
    await ensure_topics(infra.bootstrap, haven_names)
    await ensure_topics(infra.bootstrap, bare_names)
    ddl = (Path(__file__).resolve().parents[1] / "services" / "common" / "sql" / "001_outbox_inbox.sql").read_text()
    conn = await asyncpg.connect(dsn)
    await conn.execute("DROP SCHEMA IF EXISTS benchpipe CASCADE; CREATE SCHEMA benchpipe; SET search_path = benchpipe;"
                       + ddl + "; CREATE TABLE effect (event_id uuid PRIMARY KEY, post_id text NOT NULL)")
    await conn.close()
    events = [Event.create("reaction.added", key=str(uuid.uuid4()), producer="forum", data={
        "post_id": str(uuid.uuid4()), "post_author_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()),
        "kind": "hug"}) for _ in range(n)]
    pool = await create_pool(dsn, "benchpipe", min_size=2, max_size=6)
    out: dict = {"events": n}
    try:
        # bare producer: the same durability settings as Haven's (idempotent, acks=all, linger 5 ms)
        bare = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, enable_idempotence=True, acks="all", linger_ms=5)
        await bare.start()
        try:
            await bare.send_and_wait(bare_names.name("forum.activity"), b"warm-up", key=b"warm")
            started = time.perf_counter()
            futures = [await bare.send(bare_names.name("forum.activity"), e.to_json(), key=e.key.encode()) for e in events]
            await asyncio.gather(*futures)
            out["bare_producer_eps"] = round(n / (time.perf_counter() - started), 1)
        finally:
            await bare.stop()
        async with pool.acquire() as c:
            await c.executemany("INSERT INTO outbox (topic, key, event_id, payload) VALUES ($1, $2, $3, $4)",
                                [("forum.activity", e.key, e.id, e.to_json()) for e in events])
        producer = make_producer(infra.bootstrap, "bench-relay")
        await producer.start()
        try:
            relay = OutboxRelay(pool=pool, dsn=dsn, schema="benchpipe", producer=producer, topics=haven_names,
                                poll_seconds=0.2)
            started = time.perf_counter()
            task = asyncio.create_task(relay.run())
            while relay.stats.published < n:
                await asyncio.sleep(0.005)
            out["relay_eps"] = round(n / (time.perf_counter() - started), 1)
            relay.stop()
            await task
        finally:
            await producer.stop()
        progress(f"  outbox relay {out['relay_eps']} events/s beside bare producer {out['bare_producer_eps']} events/s")

        # bare consumer: getmany, commit per batch, nothing else
        consumer = AIOKafkaConsumer(bare_names.name("forum.activity"), bootstrap_servers=infra.bootstrap,
                                    group_id=f"bare{tag}-consumer", enable_auto_commit=False, auto_offset_reset="earliest",
                                    isolation_level="read_committed", max_poll_records=100)
        await consumer.start()
        try:
            seen, first = 0, None
            while seen < n + 1:  # + the warm-up record
                batch = await consumer.getmany(timeout_ms=300, max_records=100)
                if batch and first is None:
                    first = time.perf_counter()
                seen += sum(len(v) for v in batch.values())
                if batch:
                    await consumer.commit()
            out["bare_consumer_eps"] = round(n / (time.perf_counter() - first), 1)
        finally:
            await consumer.stop()

        class Effect:
            async def prepare(self, batch) -> None:
                return None

            async def apply(self, c, event) -> None:
                await c.execute("INSERT INTO effect (event_id, post_id) VALUES ($1, $2)", event.id, event.data["post_id"])

        producer = make_producer(infra.bootstrap, "bench-consumer-dlq")
        await producer.start()
        try:
            loop = consumer_loop(name="consumer", pool=pool, bootstrap_servers=infra.bootstrap, topic_names=haven_names,
                                topics=["forum.activity"], handler=Effect(), producer=producer)
            task = asyncio.create_task(loop.run())
            while loop.stats.applied == 0:
                await asyncio.sleep(0.002)
            started, base = time.perf_counter(), loop.stats.applied
            while loop.stats.applied + loop.stats.duplicates < n:
                await asyncio.sleep(0.005)
            out["consumer_loop_eps"] = round((n - base) / (time.perf_counter() - started), 1)
            loop.stop()
            await task
        finally:
            await producer.stop()
        async with pool.acquire() as c:
            out["effects"] = await c.fetchval("SELECT count(*) FROM effect")
        progress(f"  consumer loop {out['consumer_loop_eps']} events/s beside bare consumer "
                 f"{out['bare_consumer_eps']} events/s ({out['effects']} effects)")
    finally:
        await pool.close()
    out["relay_ratio"] = round(out["relay_eps"] / out["bare_producer_eps"], 3)
    out["consumer_ratio"] = round(out["consumer_loop_eps"] / out["bare_consumer_eps"], 3)
    return out
