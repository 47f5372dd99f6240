"""The event envelope (docs/architecture.md "Topics and the envelope"): creation, round trip, and what a consumer rejects."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from services.common.envelope import SCHEMAS, Event
from services.common.errors import EventError, UnknownEventVersion

TYPES = sorted(SCHEMAS)
FIELDS = [(t, name) for t in TYPES for name in SCHEMAS[t].required]
ENVELOPE_FIELDS = ("id", "type", "version", "occurred_at", "producer", "key", "data")


def _sample(kind) -> object:
    """A value of the schema's type (the first one, for unions such as "str or None")."""
    first = kind[0] if isinstance(kind, tuple) else kind
    return {str: "x", int: 1, float: 1.5, bool: True, list: [], dict: {}}[first]


def _wrong(kind) -> object:
    """A value that is not of the schema's type."""
    return next(v for v in ("s", 7, [], {}) if not isinstance(v, kind))


def minimal_data(event_type: str) -> dict:
    schema = SCHEMAS[event_type]
    data = {name: _sample(kind) for name, kind in schema.required.items()}
    data.update({name: allowed[0] for name, allowed in schema.choices.items()})
    return data


def envelope(event_type: str = "post.deleted", **overrides) -> dict:
    obj = {"id": str(uuid.uuid4()), "type": event_type, "version": SCHEMAS[event_type].major,
           "occurred_at": "2024-05-01T12:00:00.000Z", "producer": "forum", "trace_id": str(uuid.uuid4()),
           "key": "k", "data": minimal_data(event_type)}
    obj.update(overrides)
    return obj


def raw(obj) -> bytes:
    return json.dumps(obj).encode()


# --- Event.create -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", TYPES)
def test_create_fills_id_time_version_and_trace(event_type):
    event = Event.create(event_type, key="k1", data=minimal_data(event_type), producer="forum")
    assert uuid.UUID(event.id) and uuid.UUID(event.trace_id)
    assert event.version == SCHEMAS[event_type].major
    assert (event.type, event.key, event.producer) == (event_type, "k1", "forum")
    occurred = datetime.fromisoformat(event.occurred_at.replace("Z", "+00:00"))
    assert event.occurred_at.endswith("Z") and occurred.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - occurred).total_seconds()) < 60


def test_create_gives_each_event_a_fresh_id():
    ids = {Event.create("post.deleted", key="k", data=minimal_data("post.deleted"), producer="forum").id
           for _ in range(20)}
    assert len(ids) == 20


def test_create_keeps_a_given_trace_id():
    event = Event.create("post.deleted", key="k", data=minimal_data("post.deleted"), producer="forum",
                         trace_id="trace-123")
    assert event.trace_id == "trace-123"


@pytest.mark.parametrize("event_type", TYPES)
def test_create_rejects_data_with_a_missing_field(event_type):
    data = minimal_data(event_type)
    data.pop(next(iter(data)))
    with pytest.raises(EventError):
        Event.create(event_type, key="k", data=data, producer="forum")


def test_create_rejects_an_unknown_type_with_event_error():
    with pytest.raises(EventError):
        Event.create("post.exploded", key="k", data={}, producer="forum")


# --- round trip -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", TYPES)
def test_round_trip(event_type):
    event = Event.create(event_type, key="k", data=minimal_data(event_type), producer="moderation")
    encoded = event.to_json()
    assert isinstance(encoded, bytes)
    assert Event.from_json(encoded) == event


def test_round_trip_keeps_non_ascii_text():
    data = {**minimal_data("post.created"), "body": "quiero dejarlo, día 3 ✨", "title": None}
    event = Event.create("post.created", key="p", data=data, producer="forum")
    assert "día 3 ✨".encode() in event.to_json()
    assert Event.from_json(event.to_json()).data["body"] == "quiero dejarlo, día 3 ✨"


def test_optional_title_may_be_null():
    assert Event.from_json(raw(envelope("post.created", data={**minimal_data("post.created"), "title": None})))


# --- rejections: all EventError ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(b"\xff\xfe\x00not json", id="not-utf8"),
        pytest.param(b"{\"id\": ", id="truncated-json"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param(None, id="tombstone"),
        pytest.param(b"[1, 2, 3]", id="json-array"),
        pytest.param(b"\"post.created\"", id="json-string"),
        pytest.param(b"null", id="json-null"),
    ],
)
def test_from_json_rejects_what_is_not_an_event_object(message):
    with pytest.raises(EventError):
        Event.from_json(message)


@pytest.mark.parametrize("name", ENVELOPE_FIELDS)
def test_from_json_rejects_a_missing_envelope_field(name):
    obj = envelope()
    del obj[name]
    with pytest.raises(EventError):
        Event.from_json(raw(obj))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"id": "not-a-uuid"}, id="id-not-uuid"),
        pytest.param({"id": 12345}, id="id-int"),
        pytest.param({"version": True}, id="version-bool"),
        pytest.param({"version": "1"}, id="version-str"),
        pytest.param({"version": 1.0}, id="version-float"),
        pytest.param({"data": []}, id="data-list"),
        pytest.param({"key": None}, id="key-null"),
        pytest.param({"type": "post.exploded"}, id="unknown-type"),
    ],
)
def test_from_json_rejects_a_bad_envelope_field(overrides):
    with pytest.raises(EventError):
        Event.from_json(raw(envelope(**overrides)))


@pytest.mark.parametrize(("event_type", "name"), FIELDS)
def test_from_json_rejects_a_missing_data_field(event_type, name):
    data = minimal_data(event_type)
    del data[name]
    with pytest.raises(EventError, match=name):
        Event.from_json(raw(envelope(event_type, data=data)))


@pytest.mark.parametrize(("event_type", "name"), FIELDS)
def test_from_json_rejects_an_ill_typed_data_field(event_type, name):
    data = {**minimal_data(event_type), name: _wrong(SCHEMAS[event_type].required[name])}
    with pytest.raises(EventError, match=name):
        Event.from_json(raw(envelope(event_type, data=data)))


@pytest.mark.parametrize("event_type", [t for t in TYPES if int in SCHEMAS[t].required.values()])
def test_from_json_rejects_a_bool_where_an_int_is_expected(event_type):
    name = next(n for n, kind in SCHEMAS[event_type].required.items() if kind is int)
    data = {**minimal_data(event_type), name: True}
    with pytest.raises(EventError, match=name):
        Event.from_json(raw(envelope(event_type, data=data)))


@pytest.mark.parametrize("event_type", TYPES)
@pytest.mark.parametrize("delta", [1, -1])
def test_from_json_rejects_an_unknown_major_version(event_type, delta):
    obj = envelope(event_type, version=SCHEMAS[event_type].major + delta)
    with pytest.raises(UnknownEventVersion):
        Event.from_json(raw(obj))


def test_unknown_version_is_an_event_error_so_it_goes_to_the_dlq():
    assert issubclass(UnknownEventVersion, EventError)


def test_from_json_rejects_deeply_nested_json():
    with pytest.raises(EventError):
        Event.from_json(b"[" * 100_000)


def test_from_json_rejects_an_oversized_integer():
    with pytest.raises(EventError):
        Event.from_json(b'{"version": 1' + b"0" * 5000 + b"}")


# --- forward compatibility --------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", TYPES)
def test_unknown_fields_in_envelope_and_data_are_ignored(event_type):
    data = {**minimal_data(event_type), "added_in_v1_7": {"nested": [1, 2]}}
    obj = envelope(event_type, data=data, schema_url="https://example.invalid", priority=3)
    event = Event.from_json(raw(obj))
    assert event.type == event_type and event.id == obj["id"]
    assert {k: event.data[k] for k in SCHEMAS[event_type].required} == minimal_data(event_type)


def test_a_non_string_trace_id_does_not_reject_the_event():
    event = Event.from_json(raw(envelope(trace_id=42)))
    assert event.trace_id == ""


@pytest.mark.parametrize(("event_type", "field", "value"), [
    ("decision.made", "outcome", "deleted"),
    ("escalation.opened", "level", "panic"),
])
def test_enumerated_fields_reject_unknown_values(event_type, field, value):
    with pytest.raises(EventError, match=field):
        Event.from_json(raw(envelope(event_type, data={**minimal_data(event_type), field: value})))


def test_a_list_field_must_hold_objects():
    data = {**minimal_data("decision.made"), "reasons": [1]}
    with pytest.raises(EventError, match="reasons"):
        Event.from_json(raw(envelope("decision.made", data=data)))
