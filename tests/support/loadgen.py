"""A steady stream of members posting, over real HTTP, while a test breaks something.

Every tick starts one request without waiting for the last (a slow or hung request
must not slow the rate down); every answer is recorded: which posts were accepted
(201), which reports were accepted, and every status seen, so a scenario can assert
"503 with Retry-After, never a 500 or a hang" while its dependency is down.

The mix, in a repeating cycle of ten: ordinary posts, posts with a marker word the test
model scores abusive (held), crisis posts (an escalation each), posts a second member
reports once they are published, and posts edited right after they are created (decided
again, at version 2). Every third tick also reads one of the accepted posts back (its
author's view), so outages are seen by reads as well as writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp
import asyncpg

from services.forum.store import ForumStore
from tests.support.stack import User as Member  # an account and its token, as the in-process stack has it

PASSWORD = "correct horse battery staple"
CYCLE = ("ordinary", "flagged", "crisis", "ordinary", "reported", "edited", "ordinary", "flagged", "ordinary",
         "crisis")
TEXTS = {
    "ordinary": "day {n}: went to my meeting tonight and called my sponsor, still sober",
    "flagged": "you are a worthless idiot {n}",
    "crisis": "I have the pills ready and I'm taking all of them tonight ({n})",
    "reported": "day {n}: anyone else find weekends the hardest part of early recovery?",
    "edited": "day {n}: a good day, first draft",
}
EDITED = "day {n}: a good day, and I wrote it down properly this time"
REQUEST_TIMEOUT_S = 10.0  # longer than this without an answer counts as a hang


@contextlib.asynccontextmanager
async def _forum_store(database_url: str):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1, server_settings={"search_path": "forum"})
    try:
        yield ForumStore(pool, refresh_ttl=timedelta(days=1))
    finally:
        await pool.close()


async def create_staff(database_url: str, role: str) -> str:
    """A staff account written straight into forum's tables (as ``forum.cli.create_user`` does)."""
    handle = f"{role}_{uuid.uuid4().hex[:8]}"
    async with _forum_store(database_url) as store:
        await store.create_user(handle, PASSWORD, role)
    return handle


async def ensure_community(database_url: str, slug: str = "general") -> None:
    async with _forum_store(database_url) as store:
        await store.ensure_community(slug, slug.title(), "")


async def login(forum_url: str, handle: str) -> Member:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{forum_url}/v1/auth/login", json={"handle": handle, "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
    return Member(body["user"]["id"], handle, body["user"]["role"], body["token"])


async def register(forum_url: str) -> Member:
    handle = f"m_{uuid.uuid4().hex[:10]}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{forum_url}/v1/auth/register", json={"handle": handle, "password": PASSWORD}) as r:
            assert r.status == 201, await r.text()
            body = await r.json()
    return Member(body["user"]["id"], handle, body["user"]["role"], body["token"])


@dataclass
class LoadStats:
    statuses: Counter = field(default_factory=Counter)  # (operation, status or "refused"/"hang") -> count
    bad: list[str] = field(default_factory=list)  # 500s, 503s without Retry-After, hangs: never allowed
    accepted: dict[str, str] = field(default_factory=dict)  # post id -> kind
    reports: set[tuple[str, str]] = field(default_factory=set)  # (post id, reporter id) accepted
    started_at: float = 0.0
    stopped_at: float = 0.0

    @property
    def seconds(self) -> float:
        return max(0.001, (self.stopped_at or time.monotonic()) - self.started_at)

    @property
    def posts_per_s(self) -> float:
        return len(self.accepted) / self.seconds

    def of_kind(self, kind: str) -> list[str]:
        return [p for p, k in self.accepted.items() if k == kind]

    def summary(self) -> str:
        return ", ".join(f"{op} {status}: {n}" for (op, status), n in sorted(self.statuses.items(), key=str))


class LoadGenerator:
    """Posts at ``rate`` per second through ``forum_urls`` until :meth:`stop`.

    With several forum instances, request ``n`` goes to instance ``n mod k`` (a round-robin balancer),
    so a post is often created on one instance and edited, read or reported through another.
    """

    def __init__(self, forum_urls: str | list[str], authors: list[Member], reporter: Member, *, rate: float = 6.0,
                 hang_is_bad: bool = True, refused_is_bad: bool = True) -> None:
        urls = [forum_urls] if isinstance(forum_urls, str) else list(forum_urls)
        self.forum_urls = [url.rstrip("/") for url in urls]
        self._balance = itertools.count()
        self.authors = authors
        self.reporter = reporter
        self.rate = rate
        self.hang_is_bad = hang_is_bad
        self.refused_is_bad = refused_is_bad
        self.stats = LoadStats()
        self._counter = itertools.count()
        self._to_report: list[str] = []
        self._authored: list[tuple[str, Member]] = []  # (post id, its author): what the reads ask for
        self._tasks: set[asyncio.Task] = set()
        self._runner: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
                                              connector=aiohttp.TCPConnector(limit=50, force_close=True))
        self.stats.started_at = time.monotonic()
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> LoadStats:
        """Stop posting, wait for every request in flight (each has its own timeout). Idempotent."""
        if self.stats.stopped_at:
            return self.stats
        self._stopping.set()
        if self._runner is not None:
            await self._runner
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.stats.stopped_at = time.monotonic()
        if self._session is not None:
            await self._session.close()
        return self.stats

    async def close(self) -> None:
        """Stop, for use in ``finally``: never raises."""
        with contextlib.suppress(Exception):
            if not self._stopping.is_set() or (self._session is not None and not self._session.closed):
                await self.stop()

    async def report_remaining(self, timeout: float = 60.0) -> None:
        """After the load: report the posts of kind ``reported`` that were not yet visible to the reporter."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as session:
            self._session = session
            while self._to_report and time.monotonic() < deadline:
                for post_id in list(self._to_report):
                    await self._report(post_id)
                if self._to_report:
                    await asyncio.sleep(0.5)
        self._session = None

    # ----------------------------------------------------------------- the loop

    async def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stopping.is_set():
            n = next(self._counter)
            self._spawn(self._post(n, CYCLE[n % len(CYCLE)]))
            if self._to_report and n % 2 == 0:
                self._spawn(self._report(self._to_report[0]))
            if self._authored and n % 3 == 1:
                post_id, author = self._authored[n % len(self._authored)]
                self._spawn(self._request("read", "GET", f"/v1/posts/{post_id}", author, None))
            next_at += 1.0 / self.rate  # read every tick: a scenario may change the rate mid-load
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), max(0.0, next_at - time.monotonic()))

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, operation: str, method: str, path: str, member: Member, body: dict | None):
        """(status, json body or None); records every outcome."""
        assert self._session is not None
        try:
            forum_url = self.forum_urls[next(self._balance) % len(self.forum_urls)]
            async with self._session.request(method, f"{forum_url}{path}", json=body,
                                              headers=member.auth) as response:
                status = response.status
                try:
                    payload = await response.json(content_type=None)
                except ValueError:  # not JSON: recorded by status; errors are always JSON (a finding below)
                    payload = None
                if status == 503 and not response.headers.get("Retry-After"):
                    self.stats.bad.append(f"{operation}: 503 without Retry-After")
                if status >= 500 and status != 503:
                    self.stats.bad.append(f"{operation}: {status} {payload}")
        except asyncio.TimeoutError:
            self.stats.statuses[(operation, "hang")] += 1
            if self.hang_is_bad:
                self.stats.bad.append(f"{operation}: no answer within {REQUEST_TIMEOUT_S:.0f}s")
            return None, None
        except aiohttp.ClientError as e:
            self.stats.statuses[(operation, "refused")] += 1
            if self.refused_is_bad:
                self.stats.bad.append(f"{operation}: {e.__class__.__name__}")
            return None, None
        self.stats.statuses[(operation, status)] += 1
        return status, payload

    async def _post(self, n: int, kind: str) -> None:
        author = self.authors[n % len(self.authors)]
        status, body = await self._request("post", "POST", "/v1/communities/general/threads", author,
                                           {"title": f"load {n}", "body": TEXTS[kind].format(n=n)})
        if status != 201:
            return
        post_id = body["post"]["id"]
        self.stats.accepted[post_id] = kind
        self._authored.append((post_id, author))
        if kind == "reported":
            self._to_report.append(post_id)
        elif kind == "edited":
            await self._request("edit", "PATCH", f"/v1/posts/{post_id}", author, {"body": EDITED.format(n=n)})

    async def _report(self, post_id: str) -> None:
        if post_id not in self._to_report:
            return
        self._to_report.remove(post_id)  # one report per post in flight at a time
        status, _ = await self._request("report", "POST", f"/v1/posts/{post_id}/reports", self.reporter,
                                        {"reason": "other", "note": "load test"})
        if status in (200, 201):
            self.stats.reports.add((post_id, self.reporter.id))
        elif status in (404, 503, None):
            self._to_report.append(post_id)  # not visible yet (still pending) or a blip: again later
