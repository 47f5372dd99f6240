"""The embedded Kafka broker and PostgreSQL server are real and keep their data.

Each test crashes or stops its server and starts a new handle on the same
data directory, as a restarted ``make run`` does, and checks that the port and
the data are still there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common.embedded.kafka import (
    EmbeddedKafka,
    default_cache_dir,
    default_pom,
    ensure_kafka_libs,
)
from services.common.embedded.postgres import EmbeddedPostgres
from services.common.errors import ConfigError

logger = logging.getLogger(__name__)

TOPIC = "embedded-infra-check"


@pytest.fixture(scope="module")
def embedded_kafka_libs() -> Path:
    """The Kafka jars, fetched once per machine; skip where Java or Maven is missing.

    Not the conftest's ``kafka_libs``: that one is None when the suite runs
    against an external broker, and this test is about the embedded one.
    """
    try:
        return ensure_kafka_libs(default_cache_dir(os.environ), default_pom(), logger.warning)
    except ConfigError as error:
        pytest.skip(str(error))


@pytest.fixture
def kafka(tmp_path: Path, embedded_kafka_libs: Path) -> Iterator[EmbeddedKafka]:
    broker = EmbeddedKafka(data_dir=tmp_path / "kafka", libs_dir=embedded_kafka_libs)
    broker.start()
    yield broker
    broker.stop()


@pytest.mark.timeout(180)
def test_kafka_message_survives_a_broker_crash(
    kafka: EmbeddedKafka, embedded_kafka_libs: Path
) -> None:
    asyncio.run(create_topic(kafka.bootstrap_servers))
    asyncio.run(produce(kafka.bootstrap_servers, b"hello"))
    kafka.kill()
    assert not kafka.is_running()

    restarted = EmbeddedKafka(data_dir=kafka.data_dir, libs_dir=embedded_kafka_libs)
    started_at = time.monotonic()
    restarted.start()
    try:
        logger.info("restart after SIGKILL took %.1fs", time.monotonic() - started_at)
        assert (restarted.port, restarted.controller_port) == (kafka.port, kafka.controller_port)
        assert asyncio.run(consume_first(restarted.bootstrap_servers)) == b"hello"
    finally:
        restarted.stop()
    assert not restarted.is_running()


async def create_topic(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, value, key=b"k")
    finally:
        await producer.stop()


async def consume_first(bootstrap: str) -> bytes | None:
    """The first record of the topic, through a consumer group (so offsets are exercised too)."""
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id="embedded-infra-check",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=60)
        await consumer.commit()
        value: bytes | None = record.value
        return value
    finally:
        await consumer.stop()


@pytest.mark.timeout(120)
def test_postgres_row_survives_stop_and_start(tmp_path: Path) -> None:
    server = EmbeddedPostgres(data_dir=tmp_path / "postgres")
    server.start()
    try:
        server.create_database("haven_check")
        server.create_database("haven_check")  # idempotent
        asyncio.run(execute(server.dsn("haven_check"), "CREATE TABLE t (note text)"))
        asyncio.run(execute(server.dsn("haven_check"), "INSERT INTO t VALUES ('kept')"))
    finally:
        server.stop()
    assert not server.is_running()

    restarted = EmbeddedPostgres(data_dir=server.data_dir)
    restarted.start()
    try:
        assert restarted.port == server.port
        rows = asyncio.run(fetch(restarted.dsn("haven_check"), "SELECT note FROM t"))
        assert rows == ["kept"]
    finally:
        restarted.stop()


async def execute(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def fetch(dsn: str, sql: str) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        return [row[0] for row in await connection.fetch(sql)]
    finally:
        await connection.close()
