"""Strictness for every test: offline ML, stray event-loop exceptions fail the test.

Warnings are errors and every test has a timeout (pyproject.toml).
"""

from __future__ import annotations

import asyncio
import inspect
import os

import pytest

# The embedded PostgreSQL + Kafka fixtures, once for the whole session (every suite shares them).
pytest_plugins = ["tests.support.infra"]

# The 30-minute soak runs only under `make soak` (HAVEN_SOAK=1), never in `make test`.
collect_ignore = [] if os.environ.get("HAVEN_SOAK") == "1" else ["soak"]

# Detoxify/transformers must never try the network in tests. huggingface_hub reads
# this once, at import, so it is set before any test module imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "obj", None)):
            item.fixturenames.append("_fail_on_stray_loop_exceptions")


@pytest.fixture
async def _fail_on_stray_loop_exceptions():
    """An exception nobody awaited (a crashed background task) fails the test that caused it."""
    loop = asyncio.get_running_loop()
    stray: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: stray.append(context))
    yield
    loop.set_exception_handler(previous)
    assert not stray, f"unhandled exceptions in the event loop: {[c.get('message') for c in stray]}"
