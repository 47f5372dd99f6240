"""Reconcile the books after a fault: databases and topics against what the load generator was told.

``lost`` counts what should exist and does not (an accepted post never decided at its
latest version, a crisis post without an escalation, an escalation nobody was told about,
a notification never delivered on a channel it was planned for, an outbox row never sent,
poison that never reached its DLQ, or a good event that did). ``doubled`` counts what
exists more than once where once is the contract (two decisions for one post version, two
escalations for one post, a notification delivered on one channel under two delivery ids,
an event applied twice). Every finding is described in ``problems``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import socket
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.topics import TopicNames, dlq
from services.notifications.delivery import DELIVERY_HEADER
from tests.support.loadgen import LoadStats


class WebhookReceiver:
    """A pager endpoint that answers 200 and remembers which notification came under which delivery id."""

    def __init__(self) -> None:
        self.received: dict[str, set[str]] = defaultdict(set)  # notification id -> delivery ids
        self.requests = 0
        self.app = web.Application()
        self.app.router.add_post("/hook", self._hook)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests += 1
        for item in body["notifications"]:
            self.received[item["id"]].add(request.headers[DELIVERY_HEADER])
        return web.Response(status=200)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class SmtpSink:
    """An SMTP server that keeps every message: (recipients, text)."""

    ESCALATION = re.compile(r"An escalation needs you now: \S*/crisis/escalations/([0-9a-f-]{36})")

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []
        self.port = 0
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode(errors="replace")))
        return "250 OK"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def escalation_pages(self) -> Counter:
        """(address, escalation id) -> how many e-mails paged it."""
        pages: Counter = Counter()
        for recipients, raw in list(self.messages):
            text = email.message_from_string(raw, policy=email.policy.default).get_content()
            for escalation in self.ESCALATION.findall(text):
                for address in recipients:
                    pages[(address.lower(), escalation)] += 1
        return pages


@dataclass
class Books:
    checked: int = 0
    lost: int = 0
    doubled: int = 0
    dead_lettered: int = 0  # distinct (consumer, record) pairs found on the DLQs
    problems: list[str] = field(default_factory=list)

    def miss(self, n: int, what: str) -> None:
        if n:
            self.lost += n
            self.problems.append(f"lost {n}: {what}")

    def double(self, n: int, what: str) -> None:
        if n:
            self.doubled += n
            self.problems.append(f"doubled {n}: {what}")


async def dlq_records(bootstrap_servers: str, topics: list[str], timeout: float = 20.0) -> dict[str, list[dict]]:
    """Every record now on each of ``topics`` (read from the start, no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or {0})]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: dict[str, list[dict]] = {t: [] for t in topics}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            behind = [tp for tp in partitions if await consumer.position(tp) < ends[tp]]
            if not behind:
                break
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                found[tp.topic].extend(json.loads(r.value) for r in records)
        return found
    finally:
        await consumer.stop()


async def reconcile(db: asyncpg.Connection, load: LoadStats, *, receiver: WebhookReceiver | None = None,
                    bootstrap_servers: str | None = None, names: TopicNames | None = None,
                    poison: dict[tuple[str, str], int] | None = None, smtp: SmtpSink | None = None,
                    rota_emails: list[str] = (), resends_allowed: bool = False) -> Books:
    """``poison``: (logical topic, consumer) -> how many distinct poison records were put there.

    ``rota_emails``: the addresses of the on-rota crisis workers, each to be paged by e-mail
    once per paging escalation. E-mail has no idempotency key: a sender killed between the
    send and its record sends again, so where ``resends_allowed`` (notifications was
    SIGKILLed) one repeat is tolerated; otherwise a repeat counts as doubled.
    """
    books = Books()
    accepted = [uuid.UUID(p) for p in load.accepted]
    books.checked = len(accepted)

    # 1. Every accepted post: decided, at its latest version, exactly once for that version.
    rows = await db.fetch("""
        SELECT p.id, p.status, p.version, p.decided_version,
               (SELECT count(*) FROM moderation.decisions d WHERE d.post_id = p.id AND d.version = p.version) AS n
        FROM forum.posts p WHERE p.id = ANY($1::uuid[])""", accepted)
    books.miss(len(accepted) - len(rows), "accepted posts missing from forum.posts")
    undecided = [r for r in rows if r["status"] == "pending" or r["decided_version"] != r["version"]]
    books.miss(len(undecided), f"posts not decided at their latest version {[str(r['id']) for r in undecided[:5]]}")
    books.miss(sum(1 for r in rows if r["n"] == 0), "post versions with no decision in moderation.decisions")
    books.double(sum(r["n"] - 1 for r in rows if r["n"] > 1), "decisions for one post version")

    # 2. Every crisis post: one escalation; every escalation: one staff notice, one support message.
    crisis = [uuid.UUID(p) for p in load.of_kind("crisis")]
    escalations = await db.fetch("""
        SELECT post_id, count(*) AS n, min(id::text) AS id FROM moderation.escalations
        WHERE post_id = ANY($1::uuid[]) GROUP BY post_id""", crisis)
    books.miss(len(crisis) - len(escalations), "crisis posts without an escalation")
    books.double(sum(r["n"] - 1 for r in escalations), "escalations for one post")
    all_escalations = [r["id"] for r in await db.fetch("SELECT id::text AS id FROM moderation.escalations")]
    notices = Counter(r["k"] for r in await db.fetch("""
        SELECT data->>'escalation_id' AS k FROM notifications.notifications
        WHERE type = 'crisis.escalation' AND recipient_role = 'crisis_staff'"""))
    books.miss(sum(1 for e in all_escalations if notices[e] == 0), "escalations crisis staff were never told of")
    books.double(sum(n - 1 for n in notices.values() if n > 1), "crisis notices for one escalation")
    support = Counter(r["k"] for r in await db.fetch("""
        SELECT data->>'post_id' AS k FROM notifications.notifications WHERE type = 'support.resources'"""))
    escalated = {str(r["post_id"]) for r in escalations}
    books.miss(sum(1 for p in escalated if support[p] == 0),
               "crisis authors never sent supportive resources")
    books.double(sum(n - 1 for n in support.values() if n > 1), "support messages for one post")

    # 2b. Each on-rota crisis worker paged by e-mail once per paging escalation.
    if smtp is not None and rota_emails:
        paging = [r for r in await db.fetch("""
            SELECT id::text AS nid, data->>'escalation_id' AS eid FROM notifications.notifications
            WHERE type = 'crisis.escalation' AND (data->>'paged')::boolean""")]
        planned = Counter((r["nid"], r["target"].lower()) for r in await db.fetch("""
            SELECT notification_id::text AS nid, target FROM notifications.delivery_items WHERE channel = 'email'"""))
        pages = smtp.escalation_pages()
        for address in (a.lower() for a in rota_emails):
            books.miss(sum(1 for r in paging if planned[(r["nid"], address)] == 0),
                       f"paging escalations with no e-mail planned for {address}")
            books.miss(sum(1 for r in paging if pages[(address, r["eid"])] == 0),
                       f"paging escalations never e-mailed to {address}")
            allowed = 2 if resends_allowed else 1
            books.double(sum(pages[(address, r["eid"])] - allowed for r in paging
                             if pages[(address, r["eid"])] > allowed), f"escalation e-mails repeated to {address}")

    # 3. Accepted reports reached moderation.
    if load.reports:
        have = {(str(r["post_id"]), str(r["reporter_id"])) for r in await db.fetch(
            "SELECT post_id, reporter_id FROM moderation.reports")}
        books.miss(len(load.reports - have), "accepted reports moderation never saw")

    # 4. Every planned delivery sent, each notification once per channel and target.
    items = await db.fetch("""
        SELECT i.notification_id::text AS nid, i.channel, i.target, d.status, d.id::text AS did
        FROM notifications.delivery_items i JOIN notifications.deliveries d ON d.id = i.delivery_id""")
    books.miss(sum(1 for r in items if r["status"] != "sent"), "deliveries not sent")
    if receiver is not None:
        webhook = [r for r in items if r["channel"] == "webhook"]
        books.miss(sum(1 for r in webhook if not receiver.received.get(r["nid"])),
                   "webhook notifications never received")
        books.double(sum(len(ids) - 1 for ids in receiver.received.values() if len(ids) > 1),
                     "notifications received under more than one delivery id")
        per_target = Counter((r["nid"], r["channel"], r["target"]) for r in items)
        books.double(sum(n - 1 for n in per_target.values() if n > 1), "delivery items for one channel")

    # 5. No outbox row left unsent, anywhere.
    for schema in ("forum", "moderation", "notifications"):
        unsent = await db.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'outbox'", schema)
        if unsent:
            books.miss(await db.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL"),
                       f"{schema}.outbox rows unsent")

    # 6. DLQ: exactly the poison injected, each (consumer, record) once; nothing good dead-lettered.
    if bootstrap_servers and names is not None:
        logical = ["forum.posts", "forum.reports", "forum.activity", "forum.accounts", "moderation.decisions",
                   "moderation.escalations", "moderation.actions"]
        found = await dlq_records(bootstrap_servers, [names.name(dlq(t)) for t in logical])
        expected = poison or {}
        for topic in logical:
            per_consumer: dict[str, set] = defaultdict(set)
            for record in found[names.name(dlq(topic))]:
                per_consumer[record["consumer"]].add((record["partition"], record["offset"]))
            books.dead_lettered += sum(len(seen) for seen in per_consumer.values())
            for consumer in set(per_consumer) | {c for (t, c) in expected if t == topic}:
                want, got = expected.get((topic, consumer), 0), len(per_consumer.get(consumer, ()))
                books.miss(max(0, want - got), f"poison on {topic} never dead-lettered by {consumer}")
                books.miss(max(0, got - want), f"good events on {topic} dead-lettered by {consumer}")
    return books


async def settle(db: asyncpg.Connection, load: LoadStats, *, timeout: float, **kwargs) -> tuple[Books, float]:
    """Reconcile until nothing is lost (or ``timeout``); returns the books and the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        books = await reconcile(db, load, **kwargs)
        if books.lost == 0 or time.monotonic() > deadline:
            return books, time.monotonic() - started
        await asyncio.sleep(0.5)
