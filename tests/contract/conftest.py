"""Fixtures for the shared contract suite: one migrated schema per service, on real infrastructure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from services.common.db import close_pool, create_pool
from services.common.service import migrate
from services.common.topics import TopicNames
from services.forum.main import MIGRATIONS as FORUM
from services.moderation.main import MIGRATIONS as MODERATION
from services.notifications.main import MIGRATIONS as NOTIFICATIONS
from tests.support.stack import Isolation

SCHEMAS = {"forum": FORUM, "moderation": MODERATION, "notifications": NOTIFICATIONS}


@dataclass
class SchemaUnderTest:
    schema: str
    isolation: Isolation
    pool: asyncpg.Pool
    topics: TopicNames

    @property
    def dsn(self) -> str:
        return self.isolation.database_url


@pytest.fixture(params=sorted(SCHEMAS))
async def service_schema(request: pytest.FixtureRequest, isolation: Isolation) -> AsyncIterator[SchemaUnderTest]:  # noqa: F811
    schema = request.param
    await migrate(isolation.database_url, schema, SCHEMAS[schema])
    pool = await create_pool(isolation.database_url, schema, min_size=1, max_size=12)
    try:
        yield SchemaUnderTest(schema, isolation, pool, TopicNames(isolation.topic_prefix))
    finally:
        await close_pool(pool)
