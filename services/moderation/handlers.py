"""What moderation does with each event it consumes: one class per consumed topic, one method per event type.

Two consumer groups read ``forum.posts``, each with its own Kafka offsets and inbox rows (``main.py``):

* ``moderation-crisis``, the crisis screen (:class:`CrisisScreenHandler`): the crisis rules and the
  learned heads on every post version, the screening stored and the escalation opened at once.
* ``moderation-posts``, the decision worker (``Dispatch(PostsHandler, ReportsHandler)``, which also reads
  ``forum.reports``): every post version through all detectors and its community's policy, decided once;
  reports and appeals into the review queue.

Each ``on_*`` method runs inside the consumer's inbox transaction and writes its effects with their
events (``events.py``, through the outbox): all or nothing. Model work runs before, in ``prepare``, once
per micro-batch. And every instance reads ``forum.accounts`` (``services/common/sessions.py``), with
:func:`audit_role_change` as its hook.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import asyncpg

from services.common import outbox
from services.common.db import connection
from services.common.envelope import Event
from services.common.errors import EventError
from services.common.handlers import TopicHandler
from services.common.tokens import Principal
from services.common.topics import MODERATION_ACTIONS, MODERATION_DECISIONS
from services.moderation import audit, events
from services.moderation import queries as q
from services.moderation.config import ReviewSettings
from services.moderation.detectors.pipeline import Detectors, combine, post_text
from services.moderation.escalations import open_escalation
from services.moderation.metrics import ModerationMetrics
from services.moderation.policy import PRIORITY, Decision, Policy, crisis_assessment, decide
from services.moderation.policy_book import PolicySource, SinglePolicy
from services.moderation.signals import Signal

log = logging.getLogger(__name__)

#: The post events that carry a version to screen and decide.
POST_VERSIONS = ("post.created", "post.edited")


# --- forum.posts, group moderation-crisis: the crisis screen ---------------------------------------------------


@dataclass(frozen=True)
class Screening:
    """One post version as the screen read it."""

    rules: list[Signal]  # the crisis rules' signals
    learned: list[Signal]  # the learned heads' signals: what is stored as the version's screening


@dataclass
class PreparedScreenings:
    """The micro-batch's screenings, by event id, from ``CrisisScreenHandler.prepare`` to its ``on_*`` methods.

    Why it exists: the encoder runs once per micro-batch, in its own thread and before the inbox
    transactions (a transaction must not wait on a model); each event's transaction then takes its
    screening from here. An event with none (its batch failed and it is applied alone) is screened alone.
    """

    by_event: dict[str, Screening] = field(default_factory=dict)

    def take(self, event_id: str) -> Screening | None:
        return self.by_event.pop(event_id, None)


class CrisisScreenHandler(TopicHandler):
    """``forum.posts`` for consumer group ``moderation-crisis``: rules + sentence encoder, escalations at once.

    Why apart from the decision worker: that one runs Detoxify, a bert-base forward pass that saturates
    2 cores around 40 posts/s; a crisis post queued behind that backlog would reach crisis staff tens of
    seconds late, or never while the model is down. The screen runs the crisis rules and the learned
    heads (milliseconds per post, in the encoder's own thread) and, inside its inbox transaction:

    * stores the learned signals of that post version (``screenings``), so the decision worker reuses
      them instead of running the encoder a second time;
    * opens the escalation, or upgrades the open one, when the rules or the crisis head see a crisis
      (:func:`services.moderation.escalations.open_escalation`, idempotent: a redelivered event changes
      nothing).

    The decision worker still assesses crisis itself (from the same signals) and calls
    ``open_escalation`` in its own transaction, so a crisis post escalates even if this screen is down;
    whichever comes first opens it, the other finds it.

    ``pool``: where it looks up versions it has screened already. Forum's pending sweeper re-emits a post
    still undecided (as a new event, which the inbox cannot recognise); while the decision worker is down
    every pending post comes back every sweep, and encoding each again would queue new crisis posts
    behind old ones. A stored screening was written in the same transaction as the escalation, so
    reusing it changes nothing but the time (tests/reliability/test_toxicity_worker_stopped.py).
    """

    def __init__(self, detectors: Detectors, policies: PolicySource, repage_seconds: int,
                 pool: asyncpg.Pool | None = None) -> None:
        self._detectors = detectors
        self._policies = policies
        self._repage_seconds = repage_seconds
        self._pool = pool
        self._prepared = PreparedScreenings()
        self.reused = 0  # screenings reused instead of encoding again (a test reads it)

    async def prepare(self, events: list[Event]) -> None:
        """The crisis rules per post, then the encoder once for the versions not screened before."""
        posts = [e for e in events if e.type in POST_VERSIONS]
        if posts:
            self._prepared = PreparedScreenings(await self._screen(posts))

    async def _screen(self, posts: list[Event]) -> dict[str, Screening]:
        screened = await self._screened(posts)
        fresh = [e for e in posts if version_key(e) not in screened]
        learned = dict(zip((e.id for e in fresh), await self._detectors.learned_signals(
            [post_text(e.data) for e in fresh], urgent=True))) if fresh else {}
        screenings = {}
        for event in posts:
            signals = learned.get(event.id)
            if signals is None:
                signals = screened[version_key(event)]
                self.reused += 1
            screenings[event.id] = Screening(self._detectors.crisis.detect(post_text(event.data)), signals)
        return screenings

    async def _screened(self, posts: list[Event]) -> dict[tuple[str, int], list[Signal]]:
        """Stored screenings of these versions (none without a pool, or for a malformed id: on_* says why)."""
        if self._pool is None:
            return {}
        valid = [e for e in posts if _is_uuid(e.data.get("post_id")) and isinstance(e.data.get("version"), int)]
        return await stored_screenings(self._pool, valid) if valid else {}

    async def on_post_created(self, conn: asyncpg.Connection, event: Event) -> None:
        await self._escalate(conn, event)

    async def on_post_edited(self, conn: asyncpg.Connection, event: Event) -> None:
        await self._escalate(conn, event)

    async def _escalate(self, conn: asyncpg.Connection, event: Event) -> None:
        screening = self._prepared.take(event.id)
        if screening is None:  # applied one by one after a failed batch: screen it alone
            screening = (await self._screen([event]))[event.id]
        data = event.data
        post_id = event_uuid(data["post_id"])
        if not any(s.category == "model_unavailable" for s in screening.learned):
            await conn.execute(q.INSERT_SCREENING, post_id, data["version"],
                               json.dumps([s.to_json() for s in screening.learned]))
        policy = self._policies.for_community(data.get("community"))
        level, evidence, _ = crisis_assessment(policy, screening.rules + screening.learned)
        if level is not None:
            await open_escalation(conn, post={**data, "post_id": post_id}, level=level, evidence=evidence,
                                  repage_seconds=self._repage_seconds, trace_id=event.trace_id)


# --- forum.posts, group moderation-posts: the decision worker ------------------------------------------------


@dataclass
class PreparedSignals:
    """The micro-batch's signals, by event id, from ``PostsHandler.prepare`` to its ``on_*`` methods.

    Why it exists: Detoxify runs once per micro-batch, off the event loop and before the inbox
    transactions (one model call for all texts; a transaction must not wait on a model); each event's
    transaction then takes its signals from here. An event with none (its batch's preparation failed, or
    it is applied alone after a failed batch) runs through the detectors alone.
    """

    by_event: dict[str, list[Signal]] = field(default_factory=dict)

    def take(self, event_id: str) -> list[Signal] | None:
        return self.by_event.pop(event_id, None)


class PostsHandler(TopicHandler):
    """``forum.posts`` for the decision worker: every post through detectors and policy, once per version.

    ``prepare`` runs on a whole micro-batch before the inbox transactions: the cheap rule detectors per
    text (crisis, abuse, sourcing, privacy, the community's watched words), the learned heads' signals
    (read from the crisis screen's stored screening of the same version, computed here only where the
    screen has not been yet), then one Detoxify call for all texts, off the event loop. The crisis screen
    has usually escalated a crisis post long before this worker reaches it. ``on_post_created`` /
    ``on_post_edited`` write the decision, the escalation (opened or upgraded: idempotent, see
    :func:`open_escalation`) and the queue item with their events through the outbox.

    A post version is decided once (``decisions`` is unique on post and version). When the same version
    arrives again with a new event id (the forum's pending sweeper re-emits posts whose decision it has
    not seen), the stored decision is re-published with its original event id, so forum applies it once.

    ``policies`` is one :class:`Policy` for every community, or a holder of the per-community book
    (:class:`services.moderation.policy_book.PolicyHolder`). With a ``pool``, ``prepare`` reuses the
    crisis screen's stored learned signals.
    """

    def __init__(self, detectors: Detectors, policies: Policy | PolicySource, repage_seconds: int,
                 pool: asyncpg.Pool | None = None, metrics: ModerationMetrics | None = None) -> None:
        self._detectors = detectors
        self._policies: PolicySource = SinglePolicy(policies) if isinstance(policies, Policy) else policies
        self._repage_seconds = repage_seconds
        self._pool = pool
        self._metrics = metrics
        self._prepared = PreparedSignals()

    async def prepare(self, events: list[Event]) -> None:
        """Rules per post, the learned heads (screened already, as a rule), then one Detoxify call."""
        posts = [e for e in events if e.type in POST_VERSIONS]
        if not posts:
            return
        texts = [post_text(e.data) for e in posts]
        policies = [self._policies.for_community(e.data.get("community")) for e in posts]
        rules = [self._detectors.rule_signals(text, policy.watched) for text, policy in zip(texts, policies)]
        learned = await self._learned(posts, texts)
        model = await self._detectors.model_signals(texts)
        self._prepared = PreparedSignals({e.id: combine(r, lr, m) for e, r, lr, m in zip(posts, rules, learned, model)})

    async def _learned(self, posts: list[Event], texts: list[str]) -> list[list[Signal]]:
        """The crisis screen's stored learned signals for these versions; the encoder runs for the rest only."""
        stored: dict[tuple[str, int], list[Signal]] = {}
        if self._pool is not None:
            try:
                stored = await stored_screenings(self._pool, posts)
            except Exception as e:  # noqa: BLE001 - the encoder can always compute them here instead
                log.warning("reading screenings failed (%s); running the encoder here", e.__class__.__name__)
        missing = [i for i, e in enumerate(posts) if version_key(e) not in stored]
        computed = dict(zip(missing, await self._detectors.learned_signals([texts[i] for i in missing])))
        return [computed[i] if i in computed else stored[version_key(e)] for i, e in enumerate(posts)]

    async def on_post_created(self, conn: asyncpg.Connection, event: Event) -> None:
        await self._moderate(conn, event)

    async def on_post_edited(self, conn: asyncpg.Connection, event: Event) -> None:
        await self._moderate(conn, event)

    async def on_post_deleted(self, conn: asyncpg.Connection, event: Event) -> None:
        post_id = event_uuid(event.data["post_id"])
        await conn.execute(q.MARK_POST_DELETED, post_id)
        await conn.execute(q.RESOLVE_QUEUE_ITEM, post_id)

    async def _moderate(self, conn: asyncpg.Connection, event: Event) -> None:
        prepared = self._prepared.take(event.id)
        data = event.data
        post_id, author_id, version = event_uuid(data["post_id"]), event_uuid(data["author_id"]), data["version"]
        role = data.get("author_role") if isinstance(data.get("author_role"), str) else None
        await conn.execute(q.UPSERT_POST, post_id, event_uuid(data["thread_id"]), data["community"], author_id, version,
                           data.get("title"), data["body"], role)
        await conn.execute(q.INSERT_POST_VERSION, post_id, version, data.get("title"), data["body"])
        existing = await conn.fetchrow(q.DECISION_FOR_VERSION, post_id, version)
        if existing is not None:
            await outbox.enqueue(conn, MODERATION_DECISIONS, events.decision_made_again(existing, event.trace_id))
            return
        if await conn.fetchval(q.LATEST_VERSION, post_id) > version:
            return  # the post was edited since: only its newest version is decided
        policy = self._policies.for_community(data["community"])
        signals = prepared if prepared is not None else (await self._detectors.run([post_text(data)],
                                                                                    [policy.watched]))[0]
        decision = decide(policy, post_text(data), signals)
        await self._store_decision(conn, event, decision, signals, policy)
        if decision.escalation_level:
            evidence = [r for r in decision.reasons if r["code"] == "crisis"]
            await open_escalation(conn, post={**data, "post_id": post_id}, level=decision.escalation_level,
                                  evidence=evidence, repage_seconds=self._repage_seconds, trace_id=event.trace_id)
        if decision.needs_review:
            top = max((r.get("score", 0.0) for r in decision.reasons), default=0.0)
            await conn.execute(q.UPSERT_QUEUE_ITEM_SCORED, uuid.uuid4(), post_id, data["community"], author_id,
                               decision.priority, json.dumps(decision.reasons), top, 0.0)

    async def _store_decision(self, conn: asyncpg.Connection, event: Event, decision: Decision,
                              signals: list[Signal], policy: Policy) -> None:
        data = event.data
        scores = {s.details.get("label", s.category): round(s.score, 4) for s in signals}
        decision_id = uuid.uuid4()
        model = self._detectors.model_name
        outgoing = events.decision_made(data, decision, decision_id=decision_id, scores=scores,
                                        policy_version=policy.version, model=model, trace_id=event.trace_id)
        await conn.execute(
            q.INSERT_DECISION, decision_id, uuid.UUID(outgoing.id), event_uuid(data["post_id"]), data["version"],
            event_uuid(data["author_id"]), data["community"], decision.outcome, json.dumps(decision.reasons),
            json.dumps([s.to_json() for s in signals]), json.dumps(scores), policy.version, model,
        )
        await outbox.enqueue(conn, MODERATION_DECISIONS, outgoing)
        if self._metrics is not None:
            self._metrics.observe_decision(event.occurred_at)


# --- forum.reports, group moderation-posts: reports and appeals into the review queue --------------------------


class ReportsHandler(TopicHandler):
    """``forum.reports``: a report, weighted by its reporter's standing, or an appeal becomes a queue reason."""

    def __init__(self, review: ReviewSettings) -> None:
        self._review = review

    async def on_report_created(self, conn: asyncpg.Connection, event: Event) -> None:
        """Store the report weighted by the reporter's standing; enough weight hides the post."""
        data = event.data
        post_id, reporter_id = event_uuid(data["post_id"]), event_uuid(data["reporter_id"])
        history = await conn.fetchrow(q.REPORTER_HISTORY, reporter_id)
        weight = reporter_weight(resolved=history["resolved"], upheld=history["upheld"],
                                 account_created=_timestamp(data.get("reporter_since")),
                                 new_account_hours=self._review.new_account_hours)
        inserted = await conn.fetchval(q.INSERT_REPORT_WEIGHTED, event_uuid(data["report_id"]), post_id, reporter_id,
                                       data["reason"], data.get("note"), data["post_version"], data["body_snapshot"],
                                       weight)
        post = await conn.fetchrow(q.POST_BY_ID, post_id)
        if inserted is None or post is None:
            return
        total = float(await conn.fetchval(q.REPORT_WEIGHT_OF_POST, post_id))
        reason = [{"code": "report", "category": data["reason"], "report_id": data["report_id"], "weight": weight}]
        item = await conn.fetchrow(q.UPSERT_QUEUE_ITEM_SCORED, uuid.uuid4(), post_id, post["community"],
                                   post["author_id"], PRIORITY["report"], json.dumps(reason), 0.0, total)
        if total >= self._review.report_hide_threshold and not item["hidden_by_reports"]:
            await conn.execute(q.MARK_HIDDEN_BY_REPORTS, item["id"])
            await audit.record(conn, actor=None, action="queue.hide", subject=f"post:{post_id}",
                               reason=f"report weight {total:.2f} >= {self._review.report_hide_threshold}")
            await outbox.enqueue(conn, MODERATION_ACTIONS, events.action_taken(
                "hide", post["author_id"], event.trace_id, post_id=str(post_id), post_version=post["version"],
                reason="reports", community=post["community"]))

    async def on_appeal_created(self, conn: asyncpg.Connection, event: Event) -> None:
        """The appeal re-enters the queue with the decision it contests attached."""
        data = event.data
        post_id = event_uuid(data["post_id"])
        post = await conn.fetchrow(q.POST_BY_ID, post_id)
        if post is None:
            raise EventError("appeal for a post moderation never saw")
        decision = await conn.fetchrow(q.LATEST_DECISION, post_id)
        removal = await conn.fetchrow(q.LAST_REMOVAL, f"post:{post_id}")
        contested = {"decision": _plain(decision), "removal": _plain(removal)}
        inserted = await conn.fetchval(q.INSERT_APPEAL, event_uuid(data["appeal_id"]), post_id,
                                       event_uuid(data["author_id"]), data.get("note"),
                                       json.dumps(contested, default=str))
        if inserted is None:
            return
        reason = [{"code": "appeal", "appeal_id": data["appeal_id"], "note": data.get("note")}]
        await conn.execute(q.UPSERT_QUEUE_ITEM_SCORED, uuid.uuid4(), post_id, post["community"], post["author_id"],
                           PRIORITY["appeal"], json.dumps(reason), 0.0, 0.0)
        await audit.record(conn, actor=None, action="queue.appeal", subject=f"post:{post_id}", reason=data.get("note"))


#: A reporter needs this many resolved reports before their track record weighs.
MIN_REPORT_HISTORY = 3


def reporter_weight(*, resolved: int, upheld: int, account_created: datetime | None,
                    new_account_hours: float, now: datetime | None = None) -> float:
    """How much one member's report weighs: their standing, not just their click.

    An ordinary reporter weighs 1.0, so the default hide threshold of 3.0 means "three ordinary
    reporters". A new account weighs half (brigading with fresh accounts takes twice as many), and a
    reporter with a track record is weighed by it: between 0.5 (nothing they reported was upheld) and 1.5
    (all of it was).
    """
    now = now or datetime.now(timezone.utc)
    weight = 1.0
    if account_created is not None and (now - account_created).total_seconds() < new_account_hours * 3600:
        weight *= 0.5
    if resolved >= MIN_REPORT_HISTORY:
        weight *= 0.5 + upheld / resolved
    return round(weight, 3)


# --- forum.accounts (every instance; services/common/sessions.py applies it) ------------------------------------


async def audit_role_change(conn: asyncpg.Connection, event: Event) -> None:
    """An audit entry for every role change: who changed whose role, from what to what."""
    data = event.data
    await audit.record(conn, actor=Principal(data["changed_by"], "", "admin"), action="role.change",
                       subject=f"user:{data['user_id']}", before={"role": data["previous_role"]},
                       after={"role": data["role"]})


# --- shared by the handlers ----------------------------------------------------------------------------------------


def version_key(event: Event) -> tuple[str, int]:
    """(post id, version): what a screening is stored under."""
    return event.data["post_id"], event.data["version"]


async def stored_screenings(pool: asyncpg.Pool, posts: Sequence[Event]) -> dict[tuple[str, int], list[Signal]]:
    """The learned signals the crisis screen stored for these post versions (those it has screened)."""
    async with connection(pool) as conn:
        rows = await conn.fetch(q.SCREENINGS_OF, [event_uuid(e.data["post_id"]) for e in posts],
                                [e.data["version"] for e in posts])
    return {(str(r["post_id"]), r["version"]): [Signal(**s) for s in json.loads(r["signals"])] for r in rows}


def event_uuid(value: str) -> uuid.UUID:
    """A UUID field of an event; a malformed one makes the event poison (never retried)."""
    try:
        return uuid.UUID(value)
    except ValueError as e:
        raise EventError(f"not a UUID: {value[:40]!r}") from e


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _plain(row: asyncpg.Record | None) -> dict[str, Any] | None:
    """A row as JSON-ready data: JSON columns parsed, timestamps ISO 8601, ids as strings."""
    if row is None:
        return None
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("reasons", "signals", "scores", "before", "after") and isinstance(value, str):
            value = json.loads(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        out[key] = value
    return out


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
