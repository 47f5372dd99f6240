"""What a consumer failure means: dead-letter now, retry while it lasts, or retry a few times."""

from __future__ import annotations

from types import SimpleNamespace

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, NodeNotReadyError

from services.common.consumer import Failure, _decode, classify_failure
from services.common.errors import EventError, InfrastructureError, UnknownEventVersion, ValidationError


@pytest.mark.parametrize("error", [EventError("schema"), UnknownEventVersion("v2")], ids=lambda e: type(e).__name__)
def test_undecodable_or_unknown_version_is_poison(error):
    assert classify_failure(error) is Failure.POISON


@pytest.mark.parametrize("error", [
    InfrastructureError("db down"),
    KafkaError(),
    KafkaConnectionError("broker gone"),
    KafkaTimeoutError(),
    NodeNotReadyError(),
    asyncpg.PostgresConnectionError("lost"),
    asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-query"),
    asyncpg.CannotConnectNowError("starting up"),
    asyncpg.exceptions.AdminShutdownError("shutdown"),
    asyncpg.InterfaceError("connection is closed"),
    ConnectionRefusedError(),
    ConnectionResetError(),
    OSError("network unreachable"),
    TimeoutError(),
], ids=lambda e: type(e).__name__)
def test_infrastructure_outages_are_retried_while_they_last(error):
    assert classify_failure(error) is Failure.OUTAGE


@pytest.mark.parametrize("error", [
    ValueError("bad value"),
    RuntimeError("boom"),
    KeyError("post_id"),
    TypeError("None is not subscriptable"),
    ValidationError("bad input"),
    asyncpg.exceptions.UniqueViolationError("duplicate key"),
    asyncpg.exceptions.NumericValueOutOfRangeError("integer out of range"),
], ids=lambda e: type(e).__name__)
def test_other_errors_are_retried_a_bounded_number_of_times(error):
    assert classify_failure(error) is Failure.ERROR


def test_an_event_error_caused_by_an_outage_is_still_poison():
    try:
        try:
            raise OSError("disk")
        except OSError as cause:
            raise EventError("bad event") from cause
    except EventError as error:
        assert classify_failure(error) is Failure.POISON


def test_too_many_connections_is_an_outage():
    assert classify_failure(asyncpg.exceptions.TooManyConnectionsError("too many clients")) is Failure.OUTAGE


@pytest.mark.parametrize("value", [None, b"\xff", b"[]", b'{"id": "x"}'], ids=["tombstone", "bytes", "array", "partial"])
def test_a_bad_record_decodes_to_poison_instead_of_raising(value):
    decoded = _decode(SimpleNamespace(value=value))
    assert isinstance(decoded, EventError) and classify_failure(decoded) is Failure.POISON


@pytest.mark.parametrize("value", [b"[" * 100_000, b'{"a": 1' + b"0" * 5000 + b"}"], ids=["deep-nesting", "huge-int"])
def test_a_hostile_record_decodes_to_poison_instead_of_raising(value):
    assert isinstance(_decode(SimpleNamespace(value=value)), EventError)
