"""Every event moderation emits, one builder per event type, and moderation's producer name (``PRODUCER``).

Whoever changes the state enqueues what these build through the outbox (``services/common/outbox.py``)
in the same transaction as the change they announce; their ``data`` is what
``services/common/envelope.py`` validates. Who reads them:

* ``moderation.decisions`` (``decision.made``): forum publishes, holds or removes the post version;
  notifications tells the author.
* ``moderation.escalations`` (``escalation.*``): notifications pages crisis staff.
* ``moderation.actions`` (``action.taken``): forum applies a moderator's (or the system's) action to the
  post or the account; notifications tells the author and the reporters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from services.common.envelope import Event
from services.moderation.policy import Decision

PRODUCER = "moderation"


# --- moderation.decisions -----------------------------------------------------------------


def decision_made(post: Mapping[str, Any], decision: Decision, *, decision_id: uuid.UUID, scores: dict[str, float],
                  policy_version: str, model: str, trace_id: str) -> Event:
    """The decision on one post version; ``post``: the post event's data."""
    return Event.create(
        "decision.made", key=post["post_id"], producer=PRODUCER, trace_id=trace_id,
        data={"decision_id": str(decision_id), "post_id": post["post_id"], "version": post["version"],
              "author_id": post["author_id"], "community": post["community"], "outcome": decision.outcome,
              "reasons": decision.reasons, "scores": scores, "policy_version": policy_version, "model": model},
    )


def decision_made_again(row: asyncpg.Record, trace_id: str) -> Event:
    """A stored decision (``queries.DECISION_FOR_VERSION``) published again with its ORIGINAL event id and time,
    so that a consumer which applied it already applies it once (the same post version came in again)."""
    return Event(
        id=str(row["event_id"]), type="decision.made", version=1,
        occurred_at=row["created_at"].isoformat(), producer=PRODUCER, trace_id=trace_id, key=str(row["post_id"]),
        data={"decision_id": str(row["id"]), "post_id": str(row["post_id"]), "version": row["version"],
              "author_id": str(row["author_id"]), "community": row["community"], "outcome": row["outcome"],
              "reasons": json.loads(row["reasons"]), "scores": json.loads(row["scores"]),
              "policy_version": row["policy_version"], "model": row["model"]},
    )


# --- moderation.escalations ----------------------------------------------------------------


def escalation_opened(escalation_id: uuid.UUID, post: Mapping[str, Any], *, level: str, pages: bool,
                      opened_at: datetime, trace_id: str) -> Event:
    return Event.create(
        "escalation.opened", key=str(escalation_id), producer=PRODUCER, trace_id=trace_id,
        data={"escalation_id": str(escalation_id), "post_id": str(post["post_id"]),
              "author_id": str(post["author_id"]), "level": level, "community": post["community"],
              "pages": pages, "opened_at": opened_at.isoformat()},
    )


def escalation_upgraded(live: asyncpg.Record, *, level: str, pages: bool, opened_at: datetime, post_version: int,
                        trace_id: str) -> Event:
    """``live``: the escalation as it was before (``queries.LIVE_ESCALATION_OF_POST``)."""
    escalation_id = str(live["id"])
    return Event.create(
        "escalation.upgraded", key=escalation_id, producer=PRODUCER, trace_id=trace_id,
        data={"escalation_id": escalation_id, "post_id": str(live["post_id"]), "author_id": str(live["author_id"]),
              "level": level, "previous_level": live["level"], "community": live["community"], "pages": pages,
              "opened_at": opened_at.isoformat(), "post_version": post_version},
    )


def escalation_acknowledged(row: asyncpg.Record, *, by: str, trace_id: str) -> Event:
    return _escalation_event("escalation.acknowledged", row, trace_id, by=by)


def escalation_resolved(row: asyncpg.Record, *, outcome: str, trace_id: str) -> Event:
    return _escalation_event("escalation.resolved", row, trace_id, outcome=outcome)


def escalation_repaged(row: asyncpg.Record, *, tier: int, misses: int) -> Event:
    """The re-pager's: no request started it, so it starts a trace of its own."""
    return _escalation_event("escalation.repaged", row, "", tier=tier, misses=misses)


def _escalation_event(kind: str, row: asyncpg.Record, trace_id: str, **data: Any) -> Event:
    return Event.create(
        kind, key=str(row["id"]), producer=PRODUCER, trace_id=trace_id,
        data={"escalation_id": str(row["id"]), "post_id": str(row["post_id"]), "level": row["level"], **data},
    )


# --- moderation.actions ----------------------------------------------------------------------


def action_taken(action: str, user_id: str | uuid.UUID, trace_id: str, **details: Any) -> Event:
    """``action`` on the member ``user_id`` (the post's author, or the account); ``details``: the fields the
    action carries (``envelope.py`` lists them: post_id, post_version, moderator_id, reason, message, until,
    redacted_body, reporter_ids, community, escalation_id...). Each action gets an id of its own."""
    user = str(user_id)
    return Event.create(
        "action.taken", key=user, producer=PRODUCER, trace_id=trace_id,
        data={"action_id": str(uuid.uuid4()), "action": action, "user_id": user, **details},
    )
