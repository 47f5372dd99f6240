"""The crisis screen: rules + sentence encoder on every post, in a consumer group of its own.

Why apart: the decision worker runs Detoxify, a bert-base forward pass that
saturates 2 cores around 40 posts/s; a crisis post queued behind that backlog
would reach crisis staff tens of seconds late, or never while the model is down.
The screen reads ``forum.posts`` as consumer ``moderation-crisis`` (its own
Kafka group, its own inbox rows), runs the crisis rules and the learned heads
(milliseconds per post, in the encoder's own thread) and, inside its inbox
transaction:

* stores the learned signals of that post version (``screenings``), so the
  decision worker reuses them instead of running the encoder a second time;
* opens the escalation, or upgrades the open one, when the rules or the crisis
  head see a crisis (:func:`services.moderation.escalations.open_escalation`,
  idempotent: a redelivered event changes nothing).

The decision worker still assesses crisis itself (from the same signals) and
calls ``open_escalation`` in its own transaction, so a crisis post escalates
even if this screen is down; whichever comes first opens it, the other finds it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from services.common.db import connection
from services.common.envelope import Event
from services.common.errors import EventError
from services.moderation import queries as q
from services.moderation.escalations import open_escalation
from services.moderation.policy import Policy, crisis_assessment
from services.moderation.signals import Signal

if TYPE_CHECKING:
    from services.moderation.worker import Detectors, PolicySource

POST_EVENTS = ("post.created", "post.edited")
CONSUMER = "moderation-crisis"


def post_text(data: dict[str, Any]) -> str:
    return f"{data['title']}\n{data['body']}" if data.get("title") else data["body"]


def version_key(event: Event) -> tuple[str, int]:
    """(post id, version): what a screening is stored under."""
    return event.data["post_id"], event.data["version"]


async def stored_screenings(pool: asyncpg.Pool, posts: Sequence[Event]) -> dict[tuple[str, int], list[Signal]]:
    """The learned signals the screen stored for these post versions (those it has screened)."""
    async with connection(pool) as conn:
        rows = await conn.fetch(q.SCREENINGS_OF, [event_uuid(e.data["post_id"]) for e in posts],
                                [e.data["version"] for e in posts])
    return {(str(r["post_id"]), r["version"]): [Signal(**s) for s in json.loads(r["signals"])] for r in rows}


class CrisisScreen:
    """Consumer handler for ``forum.posts`` (group ``moderation-crisis``).

    ``pool``: where it looks up versions it has screened already. Forum's pending sweeper re-emits a
    post still undecided (as a new event, which the inbox cannot recognise); while the decision worker
    is down every pending post comes back every sweep, and encoding each again would queue new crisis
    posts behind old ones. A stored screening was written in the same transaction as the escalation,
    so reusing it changes nothing but the time (tests/reliability/test_toxicity_worker_stopped.py).
    """

    def __init__(self, detectors: Detectors, policies: PolicySource, repage_seconds: int,
                 pool: asyncpg.Pool | None = None) -> None:
        self._detectors = detectors
        self._policies = policies
        self._repage_seconds = repage_seconds
        self._pool = pool
        self._prepared: dict[str, tuple[list[Signal], list[Signal]]] = {}
        self.reused = 0  # screenings reused instead of encoding again (a test reads it)

    async def prepare(self, events: list[Event]) -> None:
        """The crisis rules per post, then the encoder once for the versions not screened before."""
        posts = [e for e in events if e.type in POST_EVENTS]
        if not posts:
            return
        screened = await self._screened(posts)
        fresh = [e for e in posts if version_key(e) not in screened]
        learned = dict(zip((e.id for e in fresh), await self._detectors.learned_signals(
            [post_text(e.data) for e in fresh], urgent=True))) if fresh else {}
        for event in posts:
            signals = learned.get(event.id)
            if signals is None:
                signals = screened[version_key(event)]
                self.reused += 1
            self._prepared[event.id] = (self._detectors.crisis.detect(post_text(event.data)), signals)

    async def _screened(self, posts: list[Event]) -> dict[tuple[str, int], list[Signal]]:
        """Stored screenings of these versions (none without a pool, or for a malformed id: apply says why)."""
        if self._pool is None:
            return {}
        valid = [e for e in posts if _is_uuid(e.data.get("post_id")) and isinstance(e.data.get("version"), int)]
        return await stored_screenings(self._pool, valid) if valid else {}

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        if event.type not in POST_EVENTS:
            return
        prepared = self._prepared.pop(event.id, None)
        if prepared is None:  # applied one by one after a failed batch: screen it alone
            await self.prepare([event])
            prepared = self._prepared.pop(event.id)
        rules, learned = prepared
        data = event.data
        post_id = event_uuid(data["post_id"])
        if not any(s.category == "model_unavailable" for s in learned):
            await conn.execute(q.INSERT_SCREENING, post_id, data["version"],
                               json.dumps([s.to_json() for s in learned]))
        policy: Policy = self._policies.for_community(data.get("community"))
        level, evidence, _ = crisis_assessment(policy, rules + learned)
        if level is not None:
            await open_escalation(conn, post={**data, "post_id": post_id}, level=level, evidence=evidence,
                                  repage_seconds=self._repage_seconds, trace_id=event.trace_id)


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
