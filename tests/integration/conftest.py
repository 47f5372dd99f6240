"""The integration tests' fixtures (embedded PostgreSQL + Kafka, ``isolation``, ``stack``)
live in ``tests/support/infra.py``, loaded for every suite by ``tests/conftest.py``; here, what
several integration modules share beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.db import create_pool
from services.common.service import migrate
from services.moderation.config import SCHEMA
from services.moderation.main import MIGRATIONS
from tests.support.stack import Isolation

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration talks to real PostgreSQL and Kafka: marked ``integration`` here,
    once, so a new module cannot forget it (``-m "not integration"`` leaves them all out). The hook sees
    the whole session's items, hence the path check."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
async def pool(isolation: Isolation):
    """A pool on this test's own moderation schema, migrated (room for a dozen concurrent callers)."""
    await migrate(isolation.database_url, SCHEMA, MIGRATIONS)
    pool = await create_pool(isolation.database_url, SCHEMA, min_size=1, max_size=12)
    yield pool
    await pool.close()
