"""The security suite runs on the integration suite's real PostgreSQL and Kafka.

The fixtures come from ``tests/support/infra.py`` (one PostgreSQL and one Kafka for the
whole session); ``secure_stack`` is a stack whose rate limits are out of
the way, for the tests that make many requests on purpose (schemathesis, the
authorisation matrix).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.stack import Isolation, Stack, start_stack

# Limits high enough that a fuzzer or a matrix never meets them (test_rate_limits meets them on purpose).
NO_LIMITS = {"POSTS_PER_MINUTE": "100000", "REPORTS_PER_MINUTE": "100000", "AUTH_ATTEMPTS_PER_MINUTE": "100000",
             "REGISTRATIONS_PER_HOUR": "100000"}


@pytest.fixture
async def secure_stack(isolation: Isolation) -> AsyncIterator[Stack]:
    async with start_stack(isolation, **NO_LIMITS) as running:
        yield running
