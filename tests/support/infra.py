"""Real PostgreSQL and a real Apache Kafka broker for every suite that needs them (a pytest plugin).

Loaded once from ``tests/conftest.py`` (``pytest_plugins``), so integration, contract, security,
browser and deploy tests share one session's PostgreSQL and Kafka instead of starting one each.

By default the suite starts its own embedded PostgreSQL and Kafka on
ephemeral ports in temporary directories (the same modules ``make run``
uses); ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` point it at real ones
instead. Every test gets its own database and its own topic prefix, so tests
run in any order and beside ``make run``.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from services.common.embedded.kafka import EmbeddedKafka, default_cache_dir, default_pom, ensure_kafka_libs
from services.common.embedded.postgres import EmbeddedPostgres
from services.common.tokens import generate_keypair
from services.common.topics import TopicNames, ensure_topics
from tests.support.synthetic_models import build_marker_checkpoint
from tests.support.stack import Isolation, Stack, start_stack


@dataclass
class Infra:
    admin_dsn: str
    bootstrap_servers: str
    kafka_libs: Path | None


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    """This session's own scratch directory.

    Not pytest's ``tmp_path_factory``: pytest deletes all but the newest three
    base temp dirs when a session starts, so a second pytest run on the machine
    would delete the data directory of the PostgreSQL this run is using.
    """
    with tempfile.TemporaryDirectory(prefix="haven-tests-") as directory:
        yield Path(directory)


@pytest.fixture(scope="session")
def kafka_libs() -> Path | None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return None
    return ensure_kafka_libs(default_cache_dir(os.environ), default_pom(), progress=lambda m: print(m, flush=True))


@pytest.fixture(scope="session")
def infra(session_dir: Path, kafka_libs: Path | None) -> Iterator[Infra]:
    started: list = []
    try:
        dsn = os.environ.get("DATABASE_URL", "")
        if not dsn:
            postgres = EmbeddedPostgres(session_dir / "postgres")
            postgres.start()
            started.append(postgres)
            dsn = postgres.dsn()
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        if not bootstrap:
            assert kafka_libs is not None
            kafka = EmbeddedKafka(session_dir / "kafka", kafka_libs)
            kafka.start()
            started.append(kafka)
            bootstrap = kafka.bootstrap_servers
        yield Infra(dsn, bootstrap, kafka_libs)
    finally:
        for process in reversed(started):
            process.stop()


@pytest.fixture(scope="session")
def token_keys(session_dir: Path) -> tuple[Path, Path]:
    directory = session_dir / "keys"
    private, public = directory / "token.pem", directory / "token.pub.pem"
    generate_keypair(private, public)
    return private, public


@pytest.fixture(scope="session")
def marker_model(session_dir: Path) -> tuple[Path, Path]:
    """A tiny Detoxify-format checkpoint whose abuse labels fire on a few marker words."""
    return build_marker_checkpoint(session_dir / "model")


async def isolated_database(admin_dsn: str) -> tuple[str, str]:
    """Create a fresh database; returns (its DSN, its name)."""
    name = f"haven_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(await conn.fetchval("SELECT format('CREATE DATABASE %I', $1::text)", name))
    finally:
        await conn.close()
    return _with_database(admin_dsn, name), name


async def drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(await conn.fetchval("SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)", name))
    finally:
        await conn.close()


def _with_database(dsn: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture
async def isolation(infra: Infra, token_keys, marker_model) -> AsyncIterator[Isolation]:
    dsn, name = await isolated_database(infra.admin_dsn)
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(infra.bootstrap_servers, TopicNames(prefix))
    try:
        yield Isolation(database_url=dsn, bootstrap_servers=infra.bootstrap_servers, topic_prefix=prefix,
                        private_key=token_keys[0], public_key=token_keys[1], model=marker_model)
    finally:
        await drop_database(infra.admin_dsn, name)


@pytest.fixture
async def stack(isolation: Isolation) -> AsyncIterator[Stack]:
    async with start_stack(isolation) as running:
        yield running
