"""The event envelope (docs/architecture.md, "Topics and the envelope") and validation of every event type's ``data``.

Consumers ignore unknown fields (forward compatibility) and reject an unknown
*major* version with :class:`UnknownEventVersion`, which the consumer loop
sends to the DLQ rather than guessing at a format it does not understand.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

from services.common.domain import CRISIS_LEVELS
from services.common.errors import EventError, UnknownEventVersion

STR, INT, BOOL, LIST, DICT = str, int, bool, list, dict
OPTIONAL_STR = (str, type(None))


@dataclass(frozen=True)
class EventSchema:
    """Required ``data`` fields and their types for one event type, at one major version."""

    major: int
    required: dict[str, Any]
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


DECISION_OUTCOMES = ("published", "held", "removed")
# Moderator actions (plus the system's "hide" when reports cross their threshold, crisis staff's "outreach",
# and an admin's "unsuspend", which lifts a suspension).
ACTIONS = ("approve", "remove", "redact", "dismiss", "warn", "suspend", "escalate", "note", "hide", "outreach",
           "unsuspend")
ESCALATION_OUTCOMES = ("resources_sent", "contacted", "emergency_services", "false_alarm", "no_contact", "other")

_POST = {"post_id": STR, "thread_id": STR, "community": STR, "author_id": STR, "version": INT, "body": STR}

SCHEMAS: dict[str, EventSchema] = {
    "post.created": EventSchema(1, {**_POST, "title": OPTIONAL_STR}),
    "post.edited": EventSchema(1, {**_POST, "title": OPTIONAL_STR}),
    "post.deleted": EventSchema(1, {"post_id": STR, "version": INT}),
    "report.created": EventSchema(
        1,
        {"report_id": STR, "post_id": STR, "reporter_id": STR, "reason": STR, "post_version": INT,
         "body_snapshot": STR},
    ),
    "appeal.created": EventSchema(1, {"appeal_id": STR, "post_id": STR, "author_id": STR, "version": INT}),
    "decision.made": EventSchema(
        1,
        {"decision_id": STR, "post_id": STR, "version": INT, "author_id": STR, "community": STR,
         "outcome": STR, "reasons": LIST, "scores": DICT, "policy_version": STR, "model": STR},
        {"outcome": DECISION_OUTCOMES},
    ),
    "escalation.opened": EventSchema(
        1, {"escalation_id": STR, "post_id": STR, "author_id": STR, "level": STR, "opened_at": STR},
        {"level": CRISIS_LEVELS},
    ),
    # A live escalation raised to a higher level (an edit, or a new crisis signal on the post): like
    # escalation.opened for whom it notifies; the escalation keeps its id and opened_at. Optional: post_version.
    "escalation.upgraded": EventSchema(
        1, {"escalation_id": STR, "post_id": STR, "author_id": STR, "level": STR, "previous_level": STR,
            "community": STR, "pages": BOOL, "opened_at": STR},
        {"level": CRISIS_LEVELS, "previous_level": CRISIS_LEVELS},
    ),
    "escalation.acknowledged": EventSchema(1, {"escalation_id": STR, "post_id": STR, "by": STR}),
    "escalation.repaged": EventSchema(1, {"escalation_id": STR, "post_id": STR, "tier": INT}),
    "escalation.resolved": EventSchema(1, {"escalation_id": STR, "post_id": STR, "outcome": STR}),
    "reply.published": EventSchema(
        1, {"post_id": STR, "thread_id": STR, "author_id": STR, "thread_author_id": STR}
    ),
    "reaction.added": EventSchema(1, {"post_id": STR, "post_author_id": STR, "user_id": STR, "kind": STR}),
    # user_id: the member the action is about (the post's author); optional fields by action:
    # post_id, post_version, moderator_id, reason, message, until, redacted_body, reporter_ids.
    "action.taken": EventSchema(1, {"action_id": STR, "action": STR, "user_id": STR}, {"action": ACTIONS}),
    # forum.accounts (key user id; services/common/sessions.py). session.revoked: data.sids lists the ended
    # sessions (refresh-token families); all: sign out everywhere (tokens without a sid issued before `at`
    # die too). role.changed: the account's new role, who changed it (an admin's id) and the previous role.
    "session.revoked": EventSchema(1, {"user_id": STR, "all": BOOL, "at": STR, "reason": STR}),
    "role.changed": EventSchema(1, {"user_id": STR, "role": STR, "previous_role": STR, "changed_by": STR,
                                    "at": STR}),
}


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    version: int
    occurred_at: str
    producer: str
    trace_id: str
    key: str
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, type: str, *, key: str, data: dict[str, Any], producer: str, trace_id: str = "") -> "Event":
        """A new event with a fresh id; validates ``data`` so a producer cannot emit garbage."""
        if type not in SCHEMAS:
            raise EventError(f"unknown event type {type!r}")
        event = cls(
            id=str(uuid.uuid4()),
            type=type,
            version=SCHEMAS[type].major,
            occurred_at=utc_now_iso(),
            producer=producer,
            trace_id=trace_id or str(uuid.uuid4()),
            key=key,
            data=data,
        )
        validate_data(event.type, event.version, event.data)
        return event

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON (orjson: several times faster than ``json.dumps(asdict(...))``, same bytes for
        the str/int/float/bool/list/dict values events carry; non-str keys are written as strings, as json did)."""
        return orjson.dumps({"id": self.id, "type": self.type, "version": self.version,
                             "occurred_at": self.occurred_at, "producer": self.producer, "trace_id": self.trace_id,
                             "key": self.key, "data": self.data}, option=orjson.OPT_NON_STR_KEYS)

    @classmethod
    def from_json(cls, raw: bytes | None) -> "Event":
        """Decode and validate; raises :class:`EventError` for anything not a valid event."""
        if raw is None:
            raise EventError("empty message (tombstone)")
        try:
            obj = orjson.loads(raw)
        except (ValueError, RecursionError) as e:  # bad UTF-8/JSON, lone surrogates, huge ints, absurd nesting
            raise EventError(f"undecodable event: {e.__class__.__name__}") from e
        if not isinstance(obj, dict):
            raise EventError("event is not a JSON object")
        kinds = {"id": str, "type": str, "version": int, "occurred_at": str, "producer": str, "key": str,
                 "data": dict}
        for name, kind in kinds.items():
            if not isinstance(obj.get(name), kind) or isinstance(obj.get(name), bool):
                raise EventError(f"envelope field {name!r} missing or not {kind.__name__}")
        try:
            uuid.UUID(obj["id"])
        except ValueError as e:
            raise EventError("envelope id is not a UUID") from e
        trace_id = obj.get("trace_id") if isinstance(obj.get("trace_id"), str) else ""
        validate_data(obj["type"], obj["version"], obj["data"])
        return cls(obj["id"], obj["type"], obj["version"], obj["occurred_at"], obj["producer"], trace_id,
                   obj["key"], obj["data"])


def validate_data(type: str, version: int, data: dict[str, Any]) -> None:
    schema = SCHEMAS.get(type)
    if schema is None:
        raise EventError(f"unknown event type {type!r}")
    if version != schema.major:
        raise UnknownEventVersion(f"{type} version {version} is not supported (expected {schema.major})")
    for name, kind in schema.required.items():
        if name not in data:
            raise EventError(f"{type}: data.{name} is missing")
        value = data[name]
        if isinstance(value, bool) and kind is not bool:
            raise EventError(f"{type}: data.{name} has the wrong type")
        if not isinstance(value, kind):
            raise EventError(f"{type}: data.{name} has the wrong type")
        if isinstance(value, list) and not all(isinstance(item, dict) for item in value):
            raise EventError(f"{type}: data.{name} must be a list of objects")
    for name, allowed in schema.choices.items():
        if data[name] not in allowed:
            raise EventError(f"{type}: data.{name} must be one of {', '.join(allowed)}")
