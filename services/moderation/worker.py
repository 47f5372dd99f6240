"""The moderation worker: every post through detectors and policy, once per version.

``prepare`` runs on a whole micro-batch from ``getmany`` before the inbox
transactions: the cheap rule detectors per text (crisis, abuse, sourcing,
privacy, the community's watched words), the learned heads' signals (read from
the crisis screen's stored screening of the same version, computed here only
where the screen has not been yet), then one Detoxify call for all texts, off
the event loop. The crisis screen (:mod:`services.moderation.screen`) is a
consumer group of its own that has usually escalated a crisis post long before
this worker reaches it. ``apply`` then runs per event inside the consumer's
inbox transaction and writes the decision, the escalation (opened or upgraded:
idempotent, see :func:`open_escalation`) and the queue item with their events
through the outbox — all or nothing. The decision itself stays exactly-once
per version.

A post version is decided once (``decisions`` is unique on post and version).
When the same version arrives again with a new event id (the forum's pending
sweeper re-emits posts whose decision it has not seen), the stored decision is
re-published with its original event id, so forum applies it once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from services.common import outbox
from services.common.envelope import Event
from services.common.errors import EventError
from services.common.topics import MODERATION_ACTIONS, MODERATION_DECISIONS
from services.moderation import audit
from services.moderation import queries as q
from services.moderation.config import ReviewSettings
from services.moderation.metrics import ModerationMetrics
from services.moderation.detectors.abuse import AbuseDetector
from services.moderation.detectors.crisis import CrisisDetector
from services.moderation.detectors.learned import LearnedConfig, LearnedScorer
from services.moderation.detectors.privacy import PrivacyDetector
from services.moderation.detectors.sourcing import SourcingDetector
from services.moderation.detectors.toxicity import ToxicityConfig, ToxicityScorer
from services.moderation.detectors.watched import WatchList
from services.moderation.escalations import open_escalation
from services.moderation.policy import PRIORITY, Decision, Policy, decide
from services.moderation.reports import reporter_weight
from services.moderation.screen import POST_EVENTS, event_uuid, post_text, stored_screenings, version_key
from services.moderation.signals import Signal

log = logging.getLogger(__name__)

PRODUCER = "moderation"


class RuleDetector(Protocol):
    name: str

    def detect(self, text: str) -> list[Signal]: ...


class PolicySource(Protocol):
    def for_community(self, community: str | None) -> Policy: ...


class SinglePolicy:
    """One policy for every community (tests, tools)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def for_community(self, community: str | None) -> Policy:
        return self.policy


class Detectors:
    """All detectors over one batch of texts: the cheap rules, the learned heads, then Detoxify.

    ``toxicity`` may be None (the evaluation, which has no real Detoxify weights): then
    no toxicity signal is produced at all, which is not the same as a failing model.
    """

    def __init__(self, toxicity: ToxicityScorer | None, learned: LearnedScorer | None = None,
                 crisis: CrisisDetector | None = None, rules: Sequence[RuleDetector] | None = None) -> None:
        self.toxicity = toxicity
        self.learned = learned
        self.crisis = crisis or CrisisDetector()
        self.rules = tuple(rules) if rules is not None else (AbuseDetector(), SourcingDetector(), PrivacyDetector())

    @property
    def model_name(self) -> str:
        models = ([self.toxicity.model_name] if self.toxicity else []) + ([self.learned.name] if self.learned else [])
        return "+".join([*models, self.crisis.name, *(r.name for r in self.rules)])

    def rule_signals(self, text: str, watched: WatchList | None = None) -> list[Signal]:
        """Crisis, abuse, sourcing, privacy and the community's watched words: milliseconds, no model."""
        signals = self.crisis.detect(text)
        for detector in self.rules:
            signals += detector.detect(text)
        return signals + (watched.scan(text) if watched else [])

    async def learned_signals(self, texts: list[str], *, urgent: bool = False) -> list[list[Signal]]:
        """The learned heads on the whole batch, in the encoder's own thread (``urgent``: the crisis screen's).

        If the encoder fails, each post gets a ``model_unavailable`` signal: the policy holds
        it for a human (fail closed), and the rules still escalate what they recognise.
        """
        if self.learned is None:
            return [[] for _ in texts]
        return await _or_unavailable(self.learned.detect(texts, urgent=urgent), len(texts), self.learned.name,
                                     "encoder")

    async def model_signals(self, texts: list[str]) -> list[list[Signal]]:
        """Detoxify on the whole batch, off the event loop.

        If it fails, each post gets a ``model_unavailable`` signal instead of
        scores: the policy holds it for a human (fail closed).
        """
        if self.toxicity is None:
            return [[] for _ in texts]
        if self.learned is not None:
            await self.learned.wait_until_calm()  # crisis first: a screen batch in flight goes before this one
        model = self.toxicity.model_name
        scores = await _or_unavailable(self.toxicity.score(texts), len(texts), model, "toxicity model")
        return [s if isinstance(s, list) else _toxicity_signals(s, model) for s in scores]

    async def run(self, texts: list[str], watched: Sequence[WatchList | None] | None = None) -> list[list[Signal]]:
        """Rules, the learned heads, then Detoxify; a failing model never keeps a crisis from escalating."""
        rules = [self.rule_signals(text, w) for text, w in zip(texts, watched or [None] * len(texts))]
        learned = await self.learned_signals(texts)
        return [combine(r, l, m) for r, l, m in zip(rules, learned, await self.model_signals(texts))]


@contextlib.asynccontextmanager
async def started_detectors(toxicity: ToxicityConfig | None, learned: LearnedConfig) -> AsyncIterator[Detectors]:
    """Detectors with their models loaded and warmed as the service runs them (the command-line tools).

    ``toxicity`` None: no Detoxify at all (the evaluation, where no real weights exist).
    """
    encoder = LearnedScorer(learned)
    scorer = ToxicityScorer.from_config(toxicity) if toxicity else None
    try:
        await encoder.start()
        if scorer:
            await scorer.start()
        yield Detectors(scorer, encoder)
    finally:
        if scorer:
            await scorer.close()
        await encoder.close()


async def _or_unavailable(work: Awaitable[list[Any]], count: int, model: str, what: str) -> list[Any]:
    """``work``'s results, or one ``model_unavailable`` signal list per text if the model failed."""
    try:
        return await work
    except Exception as e:  # noqa: BLE001 - any model failure: degrade, never drop the crisis path
        log.error("%s failed on a batch of %d: %s; holding them for review", what, count, e.__class__.__name__)
        unavailable = Signal("model_unavailable", 1.0, f"{what} error: {e.__class__.__name__}", model)
        return [[unavailable] for _ in range(count)]


def combine(*groups: list[Signal]) -> list[Signal]:
    """One post's signals in a stable order: crisis first, then the rest in the groups' order."""
    found = [s for group in groups for s in group]
    return [s for s in found if s.category == "crisis"] + [s for s in found if s.category != "crisis"]


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


class PostHandler:
    """Consumer handler for ``forum.posts`` and ``forum.reports``.

    ``policies`` is one :class:`Policy` for every community, or a holder of the
    per-community book (:class:`services.moderation.policies.PolicyHolder`).
    With a ``pool``, ``prepare`` reuses the crisis screen's stored learned signals.
    """

    def __init__(self, detectors: Detectors, policies: Policy | PolicySource, repage_seconds: int,
                 review: ReviewSettings, pool: asyncpg.Pool | None = None,
                 metrics: ModerationMetrics | None = None) -> None:
        self._detectors = detectors
        self._metrics = metrics
        self._policies: PolicySource = SinglePolicy(policies) if isinstance(policies, Policy) else policies
        self._repage_seconds = repage_seconds
        self._review = review
        self._pool = pool
        self._prepared: dict[str, list[Signal]] = {}

    async def prepare(self, events: list[Event]) -> None:
        """Rules per post, the learned heads (screened already, as a rule), then one Detoxify call."""
        posts = [e for e in events if e.type in POST_EVENTS]
        if not posts:
            return
        texts = [post_text(e.data) for e in posts]
        policies = [self._policies.for_community(e.data.get("community")) for e in posts]
        rules = [self._detectors.rule_signals(text, policy.watched) for text, policy in zip(texts, policies)]
        learned = await self._learned(posts, texts)
        model = await self._detectors.model_signals(texts)
        self._prepared.update({e.id: combine(r, lr, m) for e, r, lr, m in zip(posts, rules, learned, model)})

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

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        try:
            if event.type in POST_EVENTS:
                await self._moderate(conn, event)
            elif event.type == "post.deleted":
                post_id = event_uuid(event.data["post_id"])
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
        post_id, author_id, version = event_uuid(data["post_id"]), event_uuid(data["author_id"]), data["version"]
        role = data.get("author_role") if isinstance(data.get("author_role"), str) else None
        await conn.execute(q.UPSERT_POST, post_id, event_uuid(data["thread_id"]), data["community"], author_id, version,
                           data.get("title"), data["body"], role)
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
            q.INSERT_DECISION, decision_id, uuid.UUID(outgoing.id), event_uuid(data["post_id"]), data["version"],
            event_uuid(data["author_id"]), data["community"], decision.outcome, json.dumps(decision.reasons),
            json.dumps([s.to_json() for s in signals]), json.dumps(scores), policy.version,
            self._detectors.model_name,
        )
        await outbox.enqueue(conn, MODERATION_DECISIONS, outgoing)
        if self._metrics is not None:
            self._metrics.observe_decision(event.occurred_at)

    async def _record_report(self, conn, event: Event) -> None:
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
            await outbox.enqueue(conn, MODERATION_ACTIONS, Event.create(
                "action.taken", key=str(post["author_id"]), producer=PRODUCER, trace_id=event.trace_id,
                data={"action_id": str(uuid.uuid4()), "action": "hide", "user_id": str(post["author_id"]),
                      "post_id": str(post_id), "post_version": post["version"], "reason": "reports",
                      "community": post["community"]},
            ))

    async def _record_appeal(self, conn, event: Event) -> None:
        """The appeal re-enters the queue with the decision it contests attached."""
        data = event.data
        post_id = event_uuid(data["post_id"])
        post = await conn.fetchrow(q.POST_BY_ID, post_id)
        if post is None:
            raise EventError("appeal for a post moderation never saw")
        decision = await conn.fetchrow(q.LATEST_DECISION, post_id)
        removal = await conn.fetchrow(q.LAST_REMOVAL, f"post:{post_id}")
        contested = {"decision": _plain(decision), "removal": _plain(removal)}
        inserted = await conn.fetchval(q.INSERT_APPEAL, event_uuid(data["appeal_id"]), post_id, event_uuid(data["author_id"]),
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
