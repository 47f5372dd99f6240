"""``python -m services.ops.init``: the one-shot job a deployment runs before the services.

1. PostgreSQL roles per service (:mod:`services.ops.roles`): each service's
   role owns its schema and nothing else;
2. migrations of the three schemas, each run *as its service's role*
   (``SET ROLE``), so every table belongs to the service that uses it;
3. Kafka topics from ``services/common/topics.yaml`` (= ``deploy/kafka/topics.yaml``)
   with their production partitions, replication and configs: missing topics
   are created, existing ones get their configs brought in line; a partition
   count that differs from the file is reported, never changed.

Every step is idempotent, so the job runs on every deploy (compose runs it on
every ``up``; on Kubernetes it is a Job). It waits up to
``HAVEN_INIT_WAIT_SECONDS`` for PostgreSQL and Kafka to accept connections.

Environment: ``HAVEN_ADMIN_DATABASE_URL`` (the administrator's DSN: a superuser,
or a CREATEROLE role owning the database), ``KAFKA_BOOTSTRAP_SERVERS``,
``FORUM_DB_PASSWORD`` / ``MODERATION_DB_PASSWORD`` / ``NOTIFICATIONS_DB_PASSWORD``,
optionally ``HAVEN_TOPIC_PREFIX`` and ``HAVEN_TOPIC_MAX_REPLICATION`` (a cap for
clusters with fewer than 3 brokers). Exit status 2 on bad configuration, 1 when
PostgreSQL or Kafka refuse or stay unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError

from services.common.backoff import Backoff
from services.common.cli import exit_status, fail
from services.common.config import EnvReader
from services.common.errors import ConfigError, InfrastructureError
from services.common.migrations import apply_migrations
from services.common.topics import (
    TopicNames,
    TopicSpec,
    TopicState,
    describe_topics,
    ensure_topics,
    load_topics,
    update_topic_configs,
)
from services.ops.roles import SERVICE_SCHEMAS, ServiceRole, apply_roles, roles_from_env

T = TypeVar("T")

# What "not up yet" looks like; anything else (a refusal, a bad password) fails at once.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError, asyncio.TimeoutError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError,
    KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError,
)


def schema_migrations() -> dict[str, Path]:
    """Each service's schema and its migrations directory (the same paths the services migrate with)."""
    from services.forum.main import MIGRATIONS as FORUM
    from services.moderation.main import MIGRATIONS as MODERATION
    from services.notifications.main import MIGRATIONS as NOTIFICATIONS

    return {"forum": FORUM, "moderation": MODERATION, "notifications": NOTIFICATIONS}


@dataclass(frozen=True)
class InitConfig:
    admin_database_url: str | None
    kafka_bootstrap_servers: str | None
    topic_prefix: str = ""
    max_replication: int | None = None
    roles: tuple[ServiceRole, ...] = field(default=())
    wait_seconds: float = 120.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, database: bool = True, topics: bool = True,
                 roles: bool = True) -> InitConfig:
        env = EnvReader(environ)
        dsn = env.text("HAVEN_ADMIN_DATABASE_URL", required=True) if database else None
        bootstrap = env.text("KAFKA_BOOTSTRAP_SERVERS", required=True) if topics else None
        prefix = env.text("HAVEN_TOPIC_PREFIX", "")
        cap = env.integer("HAVEN_TOPIC_MAX_REPLICATION", 0, minimum=0, maximum=16)
        wait = env.number("HAVEN_INIT_WAIT_SECONDS", 120.0, minimum=0, maximum=3600)
        service_roles: tuple[ServiceRole, ...] = ()
        if database and roles:
            try:
                service_roles = tuple(roles_from_env(dict(environ)))
            except ConfigError as e:
                env.problems.extend(line.strip() for line in str(e).splitlines()[1:])
        env.raise_if_problems()
        return cls(dsn, bootstrap, prefix, cap or None, service_roles, wait)


@dataclass
class InitReport:
    migrations: dict[str, list[int]] = field(default_factory=dict)
    topics_created: list[str] = field(default_factory=list)
    topics_updated: list[str] = field(default_factory=list)
    partition_drift: list[str] = field(default_factory=list)


async def run(config: InitConfig, *, say: Callable[[str], None] = print,
              specs: Sequence[TopicSpec] | None = None) -> InitReport:
    """Roles, then migrations, then topics; raises ConfigError / InfrastructureError."""
    report = InitReport()
    deadline = time.monotonic() + config.wait_seconds
    if config.admin_database_url:
        conn = await _until(deadline, "PostgreSQL", lambda: asyncpg.connect(config.admin_database_url), say)
        try:
            if config.roles:
                await apply_roles(conn, config.roles)
                say(f"roles: {', '.join(r.role for r in config.roles)} (each owns only its schema)")
            owners = {r.schema: r.role for r in config.roles}
            for schema, directory in schema_migrations().items():
                report.migrations[schema] = await _migrate_as(conn, schema, directory, owners.get(schema))
                applied = report.migrations[schema]
                say(f"schema {schema}: {'applied migrations ' + str(applied) if applied else 'up to date'}")
        except asyncpg.PostgresError as e:
            raise InfrastructureError(f"PostgreSQL refused: {e.__class__.__name__}: {e}") from e
        finally:
            await conn.close()
    if config.kafka_bootstrap_servers:
        bootstrap = config.kafka_bootstrap_servers
        names = TopicNames(config.topic_prefix)
        wanted = list(load_topics() if specs is None else specs)
        report.topics_created = await _until(
            deadline, "Kafka", lambda: ensure_topics(bootstrap, names, config.max_replication, specs=wanted), say)
        report.topics_updated = await update_topic_configs(bootstrap, names, config.max_replication, specs=wanted)
        states = await _described(bootstrap, names, wanted)
        for spec in wanted:
            state = states.get(names.name(spec.name))
            if state is None:
                raise InfrastructureError(f"topic {names.name(spec.name)} is missing after creation")
            if state.partitions != spec.partitions:
                report.partition_drift.append(
                    f"{names.name(spec.name)} has {state.partitions} partitions, the definition says "
                    f"{spec.partitions} (not changed automatically: see README 'Deploying')")
            say(f"topic {names.name(spec.name)}: {state.partitions} partitions, replication "
                f"{state.replication_factor}, {', '.join(f'{k}={v}' for k, v in sorted(state.configs.items()))}")
        say(f"topics: created {len(report.topics_created)}, configs updated {len(report.topics_updated)}")
        for line in report.partition_drift:
            say(f"WARNING: {line}")
    return report


async def _described(bootstrap: str, names: TopicNames, specs: Sequence[TopicSpec],
                     timeout: float = 30.0) -> dict[str, TopicState]:
    """Every defined topic as the broker describes it; new topics reach every broker's metadata a little later."""
    deadline = time.monotonic() + timeout
    while True:
        states = await describe_topics(bootstrap, names, specs)
        if all(names.name(s.name) in states for s in specs) or time.monotonic() > deadline:
            return states
        await asyncio.sleep(0.5)


async def _migrate_as(conn: asyncpg.Connection, schema: str, directory: Path, role: str | None) -> list[int]:
    """Apply ``schema``'s migrations on ``conn``, as ``role`` when given (objects then belong to it)."""
    if role is None:
        return await apply_migrations(conn, schema, directory)
    await conn.execute(await conn.fetchval("SELECT format('SET ROLE %I', $1::text)", role))
    try:
        return await apply_migrations(conn, schema, directory)
    finally:
        await conn.execute("RESET ROLE")


async def _until(deadline: float, what: str, attempt: Callable[[], Awaitable[T]], say: Callable[[str], None]) -> T:
    """``attempt()`` until it stops failing to connect, or the deadline passes."""
    backoff = Backoff(0.5, 5.0)
    while True:
        try:
            return await attempt()
        except _UNREACHABLE as e:
            error: BaseException = e
        delay = backoff.next()
        if time.monotonic() + delay > deadline:
            raise InfrastructureError(f"{what} not reachable: {error.__class__.__name__}: {error}") from error
        say(f"waiting for {what} ({error.__class__.__name__})")
        await asyncio.sleep(delay)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ops.init", description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-database", action="store_true", help="no roles, no migrations")
    parser.add_argument("--skip-roles", action="store_true", help="migrate as the administrator, create no roles")
    parser.add_argument("--skip-topics", action="store_true", help="do not touch Kafka")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(f"init: {line}", flush=True)

    try:
        config = InitConfig.from_env(os.environ, database=not args.skip_database, topics=not args.skip_topics,
                                     roles=not args.skip_roles)
    except ConfigError as e:
        return fail("init", e)
    status = exit_status("init", lambda: asyncio.run(run(config, say=say)), {InfrastructureError: 1})
    if status == 0:
        say("done")
    return status


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["SERVICE_SCHEMAS", "InitConfig", "InitReport", "main", "run", "schema_migrations"]
