"""The moderation worker: every post through detectors and policy, once per version.

``prepare`` runs on a whole micro-batch from ``getmany`` before the inbox
transactions: the cheap rule detectors per text (crisis, abuse, sourcing,
privacy, the community's watched words), then — for a crisis post — its
escalation, opened at once in its own short transaction so crisis staff are
paged without waiting for the model, then one Detoxify call for all texts,
off the event loop. ``apply`` then runs per event inside the consumer's inbox
transaction and writes the decision, the escalation (already open: the insert
is idempotent, one per post) and the queue item with their events through the
outbox — all or nothing. The decision itself stays exactly-once per version.

A post version is decided once (``decisions`` is unique on post and version).
When the same version arrives again with a new event id (the forum's pending
sweeper re-emits posts whose decision it has not seen), the stored decision is
re-published with its original event id, so forum applies it once.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from services.common import outbox
from services.common.db import transaction
from services.common.envelope import Event
from services.common.errors import EventError
from services.common.topics import MODERATION_ACTIONS, MODERATION_DECISIONS
from services.moderation import audit
from services.moderation import queries as q
from services.moderation.config import ReviewSettings
from services.moderation.metrics import ModerationMetrics
from services.moderation.detectors.abuse import AbuseDetector
from services.moderation.detectors.crisis import CrisisDetector
from services.moderation.detectors.privacy import PrivacyDetector
from services.moderation.detectors.sourcing import SourcingDetector
from services.moderation.detectors.toxicity import ToxicityScorer
from services.moderation.detectors.watched import WatchList
from services.moderation.escalations import open_escalation
from services.moderation.policy import PRIORITY, Decision, Policy, crisis_assessment, decide
from services.moderation.reports import reporter_weight
from services.moderation.signals import Signal

log = logging.getLogger(__name__)

PRODUCER = "moderation"
POST_EVENTS = ("post.created", "post.edited")


class RuleDetector(Protocol):
    name: str

    def detect(self, text: str) -> list[Signal]: ...


class PolicySource(Protocol):
    def for_community(self, community: str | None) -> Policy: ...


class _Single:
    """One policy for every community (tests, tools)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def for_community(self, community: str | None) -> Policy:
        return self.policy


class Detectors:
    """All detectors over one batch of texts: the cheap rules first, then Detoxify on the batch."""

    def __init__(self, toxicity: ToxicityScorer, crisis: CrisisDetector | None = None,
                 rules: Sequence[RuleDetector] | None = None) -> None:
        self.toxicity = toxicity
        self.crisis = crisis or CrisisDetector()
        self.rules = tuple(rules) if rules is not None else (AbuseDetector(), SourcingDetector(), PrivacyDetector())

    @property
    def model_name(self) -> str:
        return "+".join([self.toxicity.model_name, self.crisis.name, *(r.name for r in self.rules)])

    def rule_signals(self, text: str, watched: WatchList | None = None) -> list[Signal]:
        """Crisis, abuse, sourcing, privacy and the community's watched words: milliseconds, no model."""
        signals = self.crisis.detect(text)
        for detector in self.rules:
            signals += detector.detect(text)
        return signals + (watched.scan(text) if watched else [])

    async def model_signals(self, texts: list[str]) -> list[list[Signal]]:
        """Detoxify on the whole batch, off the event loop.

        If it fails, each post gets a ``model_unavailable`` signal instead of
        scores: the policy holds it for a human (fail closed).
        """
        try:
            scores = await self.toxicity.score(texts)
        except Exception as e:  # noqa: BLE001 - any model failure: degrade, never drop the crisis path
            log.error("toxicity model failed on a batch of %d: %s; holding them for review", len(texts),
                      e.__class__.__name__)
            unavailable = Signal("model_unavailable", 1.0, f"toxicity model error: {e.__class__.__name__}",
                                 self.toxicity.model_name)
            return [[unavailable] for _ in texts]
        return [_toxicity_signals(score, self.toxicity.model_name) for score in scores]

    async def run(self, texts: list[str], watched: Sequence[WatchList | None] | None = None) -> list[list[Signal]]:
        """Rules, then the model; a failing model never keeps a crisis from escalating."""
        rules = [self.rule_signals(text, w) for text, w in zip(texts, watched or [None] * len(texts))]
        return [combine(r, m) for r, m in zip(rules, await self.model_signals(texts))]


def combine(rules: list[Signal], model: list[Signal]) -> list[Signal]:
    """One post's signals in a stable order: crisis, the model's, then the other rules'."""
    return [s for s in rules if s.category == "crisis"] + model + [s for s in rules if s.category != "crisis"]


def _toxicity_signals(scores: dict[str, float], model: str) -> list[Signal]:
    """The highest-scoring label, plus ``threat`` on its own, as signals."""
    if not scores:
        return []
    label, top = max(scores.items(), key=lambda item: item[1])
    signals = [Signal("toxicity", float(top), f"{label}={top:.3f}", model, {"label": label, "scores": scores})]
    if label != "threat" and "threat" in scores:
        signals.append(Signal("toxicity", float(scores["threat"]), f"threat={scores['threat']:.3f}", model,
                              {"label": "threat"}))
    return signals


def post_text(data: dict[str, Any]) -> str:
    return f"{data['title']}\n{data['body']}" if data.get("title") else data["body"]


class PostHandler:
    """Consumer handler for ``forum.posts`` and ``forum.reports``.

    ``policies`` is one :class:`Policy` for every community, or a holder of the
    per-community book (:class:`services.moderation.policies.PolicyHolder`).
    With a ``pool``, ``prepare`` opens crisis escalations before the ML batch.
    """

    def __init__(self, detectors: Detectors, policies: Policy | PolicySource, repage_seconds: int,
                 review: ReviewSettings, pool: asyncpg.Pool | None = None,
                 metrics: ModerationMetrics | None = None) -> None:
        self._detectors = detectors
        self._metrics = metrics
        self._policies: PolicySource = _Single(policies) if isinstance(policies, Policy) else policies
        self._repage_seconds = repage_seconds
        self._review = review
        self._pool = pool
        self._prepared: dict[str, list[Signal]] = {}
        self.early_escalations = 0

    async def prepare(self, events: list[Event]) -> None:
        """Rules per post, crisis escalations at once, then one Detoxify call for the batch."""
        posts = [e for e in events if e.type in POST_EVENTS]
        if not posts:
            return
        texts = [post_text(e.data) for e in posts]
        policies = [self._policies.for_community(e.data.get("community")) for e in posts]
        rules = [self._detectors.rule_signals(text, policy.watched) for text, policy in zip(texts, policies)]
        await self._escalate_early(posts, policies, rules)
        model = await self._detectors.model_signals(texts)
        self._prepared.update({e.id: combine(r, m) for e, r, m in zip(posts, rules, model)})

    async def _escalate_early(self, posts: list[Event], policies: list[Policy], rules: list[list[Signal]]) -> None:
        """Open each crisis post's escalation in its own short transaction, before the model runs.

        ``open_escalation`` is idempotent (one per post), so ``apply`` finds it open and
        moves on; if this fails (the database blinked), ``apply`` opens it instead.
        """
        if self._pool is None:
            return
        for event, policy, signals in zip(posts, policies, rules):
            level, evidence, _ = crisis_assessment(policy, signals)
            if level is None:
                continue
            data = event.data
            try:
                async with transaction(self._pool) as conn:
                    opened = await open_escalation(conn, post={**data, "post_id": _uuid(data["post_id"])},
                                                   level=level, evidence=evidence,
                                                   repage_seconds=self._repage_seconds, trace_id=event.trace_id)
                self.early_escalations += opened is not None
            except Exception as e:  # noqa: BLE001 - apply() opens it in the inbox transaction instead
                log.warning("early crisis escalation failed (%s); the decision will open it", e.__class__.__name__)

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        try:
            if event.type in POST_EVENTS:
                await self._moderate(conn, event)
            elif event.type == "post.deleted":
                post_id = _uuid(event.data["post_id"])
                await conn.execute(q.MARK_POST_DELETED, post_id)
                await conn.execute(q.RESOLVE_QUEUE_ITEM, post_id)
            elif event.type == "report.created":
                await self._record_report(conn, event)
            elif event.type == "appeal.created":
                await self._record_appeal(conn, event)
        finally:
            self._prepared.pop(event.id, None)

    async def _moderate(self, conn: asyncpg.Connection, event: Event) -> None:
        data = event.data
        post_id, author_id, version = _uuid(data["post_id"]), _uuid(data["author_id"]), data["version"]
        await conn.execute(q.UPSERT_POST, post_id, _uuid(data["thread_id"]), data["community"], author_id, version,
                           data.get("title"), data["body"])
        await conn.execute(q.INSERT_POST_VERSION, post_id, version, data.get("title"), data["body"])
        existing = await conn.fetchrow(q.DECISION_FOR_VERSION, post_id, version)
        if existing is not None:
            await outbox.enqueue(conn, MODERATION_DECISIONS, _decision_event_from_row(existing, event.trace_id))
            return
        if await conn.fetchval(q.LATEST_VERSION, post_id) > version:
            return  # the post was edited since: only its newest version is decided
        policy = self._policies.for_community(data["community"])
        signals = self._prepared.get(event.id)
        if signals is None:
            signals = (await self._detectors.run([post_text(data)], [policy.watched]))[0]
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

    async def _store_decision(self, conn, event: Event, decision: Decision, signals: list[Signal],
                              policy: Policy) -> None:
        data = event.data
        scores = {s.details.get("label", s.category): round(s.score, 4) for s in signals}
        decision_id = uuid.uuid4()
        outgoing = Event.create(
            "decision.made", key=data["post_id"], producer=PRODUCER, trace_id=event.trace_id,
            data={"decision_id": str(decision_id), "post_id": data["post_id"], "version": data["version"],
                  "author_id": data["author_id"], "community": data["community"], "outcome": decision.outcome,
                  "reasons": decision.reasons, "scores": scores, "policy_version": policy.version,
                  "model": self._detectors.model_name},
        )
        await conn.execute(
            q.INSERT_DECISION, decision_id, uuid.UUID(outgoing.id), _uuid(data["post_id"]), data["version"],
            _uuid(data["author_id"]), data["community"], decision.outcome, json.dumps(decision.reasons),
            json.dumps([s.to_json() for s in signals]), json.dumps(scores), policy.version,
            self._detectors.model_name,
        )
        await outbox.enqueue(conn, MODERATION_DECISIONS, outgoing)
        if self._metrics is not None:
            self._metrics.observe_decision(event.occurred_at)

    async def _record_report(self, conn, event: Event) -> None:
        """Store the report weighted by the reporter's standing; enough weight hides the post."""
        data = event.data
        post_id, reporter_id = _uuid(data["post_id"]), _uuid(data["reporter_id"])
        history = await conn.fetchrow(q.REPORTER_HISTORY, reporter_id)
        weight = reporter_weight(resolved=history["resolved"], upheld=history["upheld"],
                                 account_created=_timestamp(data.get("reporter_since")),
                                 new_account_hours=self._review.new_account_hours)
        inserted = await conn.fetchval(q.INSERT_REPORT_WEIGHTED, _uuid(data["report_id"]), post_id, reporter_id,
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
            await outbox.enqueue(conn, MODERATION_ACTIONS, Event.create(
                "action.taken", key=str(post["author_id"]), producer=PRODUCER, trace_id=event.trace_id,
                data={"action_id": str(uuid.uuid4()), "action": "hide", "user_id": str(post["author_id"]),
                      "post_id": str(post_id), "post_version": post["version"], "reason": "reports",
                      "community": post["community"]},
            ))

    async def _record_appeal(self, conn, event: Event) -> None:
        """The appeal re-enters the queue with the decision it contests attached."""
        data = event.data
        post_id = _uuid(data["post_id"])
        post = await conn.fetchrow(q.POST_BY_ID, post_id)
        if post is None:
            raise EventError("appeal for a post moderation never saw")
        decision = await conn.fetchrow(q.LATEST_DECISION, post_id)
        removal = await conn.fetchrow(q.LAST_REMOVAL, f"post:{post_id}")
        contested = {"decision": _plain(decision), "removal": _plain(removal)}
        inserted = await conn.fetchval(q.INSERT_APPEAL, _uuid(data["appeal_id"]), post_id, _uuid(data["author_id"]),
                                       data.get("note"), json.dumps(contested, default=str))
        if inserted is None:
            return
        reason = [{"code": "appeal", "appeal_id": data["appeal_id"], "note": data.get("note")}]
        await conn.execute(q.UPSERT_QUEUE_ITEM_SCORED, uuid.uuid4(), post_id, post["community"], post["author_id"],
                           PRIORITY["appeal"], json.dumps(reason), 0.0, 0.0)
        await audit.record(conn, actor=None, action="queue.appeal", subject=f"post:{post_id}", reason=data.get("note"))


def _decision_event_from_row(row: asyncpg.Record, trace_id: str) -> Event:
    """The stored decision's event, with its ORIGINAL id, so consumers apply it once."""
    return Event(
        id=str(row["event_id"]), type="decision.made", version=1,
        occurred_at=row["created_at"].isoformat(), producer=PRODUCER, trace_id=trace_id, key=str(row["post_id"]),
        data={"decision_id": str(row["id"]), "post_id": str(row["post_id"]), "version": row["version"],
              "author_id": str(row["author_id"]), "community": row["community"], "outcome": row["outcome"],
              "reasons": json.loads(row["reasons"]), "scores": json.loads(row["scores"]),
              "policy_version": row["policy_version"], "model": row["model"]},
    )


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


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as e:
        raise EventError(f"not a UUID: {value[:40]!r}") from e
