"""The deployment's one-shot init job against the embedded PostgreSQL and Kafka.

It runs exactly what docker-compose's ``init`` service and the Kubernetes Job
run (:func:`services.ops.init.run`), with the production topic definitions
and the replication factor capped at 1 (one broker). Then the three services
start, each connected as its own least-privilege role, on the topics the job
created, and a post goes through the whole path.

Roles are global to a PostgreSQL cluster, so the test uses role names of its
own and drops them (after its database) at the end.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.common.service import migrate
from services.forum.appkeys import STORE as FORUM_STORE
from services.common.topics import CODE_TOPICS, TopicNames, describe_topics, load_topics
from services.ops.init import InitConfig, run, schema_migrations
from services.ops.roles import SERVICE_SCHEMAS, ServiceRole, scram_sha256_verifier
from tests.support.infra import Infra, drop_database, isolated_database
from tests.support.stack import Isolation, Stack, build_app, start_client
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def as_role(dsn: str, role: str) -> str:
    """``dsn`` with ``role`` as the user (the embedded server trusts local connections: no password)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{role}@{host}", parts.path, parts.query, parts.fragment))


@dataclass
class Deployed:
    dsn: str
    roles: dict[str, ServiceRole]
    prefix: str
    lines: list[str]


@pytest.fixture
async def deployed(infra: Infra) -> AsyncIterator[Deployed]:
    dsn, database = await isolated_database(infra.admin_dsn)
    suffix = uuid.uuid4().hex[:8]
    roles = {s: ServiceRole(s, f"haven_{s}_{suffix}", secrets.token_hex(16)) for s in SERVICE_SCHEMAS}
    prefix = f"t{uuid.uuid4().hex[:10]}."
    lines: list[str] = []
    try:
        await run(InitConfig(dsn, infra.bootstrap_servers, topic_prefix=prefix, max_replication=1,
                             roles=tuple(roles.values()), wait_seconds=30), say=lines.append)
        yield Deployed(dsn, roles, prefix, lines)
    finally:
        await _drop_database_and_roles(infra.admin_dsn, database, roles)


async def test_topics_exist_with_the_production_definitions_reduced_to_one_broker(deployed: Deployed,
                                                                                  infra: Infra) -> None:
    states = await describe_topics(infra.bootstrap_servers, TopicNames(deployed.prefix))
    specs = load_topics()
    assert len(specs) == 2 * len(CODE_TOPICS), "every topic and its DLQ"
    for spec in specs:
        state = states.get(deployed.prefix + spec.name)
        assert state is not None, f"{spec.name} was not created"
        assert state.partitions == spec.partitions, spec.name
        assert state.replication_factor == 1, "replication reduced to the one broker"
        assert state.configs == {**spec.configs, "min.insync.replicas": "1"}, spec.name
    assert any("forum.posts: 6 partitions, replication 1" in line for line in deployed.lines), deployed.lines
    assert await describe_topics(infra.bootstrap_servers, TopicNames("absent.")) == {}, "missing topics left out"


async def test_running_again_changes_nothing_and_restores_drifted_configs(deployed: Deployed, infra: Infra) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    topic = deployed.prefix + "forum.posts"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:  # someone shortens retention by hand
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "1000"})])
    finally:
        await admin.close()

    async def drifted() -> bool:  # the broker applies config changes asynchronously
        states = await describe_topics(infra.bootstrap_servers, TopicNames(deployed.prefix))
        return states[topic].configs.get("retention.ms") == "1000"

    await eventually(drifted, timeout=20, what="the hand-made change to be visible")
    config = InitConfig(deployed.dsn, infra.bootstrap_servers, topic_prefix=deployed.prefix, max_replication=1,
                        roles=tuple(deployed.roles.values()), wait_seconds=30)
    report = await run(config, say=lambda line: None)
    assert report.migrations == {s: [] for s in SERVICE_SCHEMAS}
    assert report.topics_created == []
    assert report.topics_updated == [topic]
    assert report.partition_drift == []

    async def restored() -> bool:
        state = (await describe_topics(infra.bootstrap_servers, TopicNames(deployed.prefix)))[topic]
        return state.configs["retention.ms"] == "604800000"

    await eventually(restored, timeout=20, what="the definition's retention back on the topic")


async def test_each_role_owns_its_schema_and_cannot_touch_another(deployed: Deployed) -> None:
    for schema, role in deployed.roles.items():
        conn = await asyncpg.connect(as_role(deployed.dsn, role.role))
        try:
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {schema}.outbox (topic, key, event_id, payload) "
                                   "VALUES ('t', 'k', gen_random_uuid(), '\\x00')")
                assert await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox") == 1
                await conn.execute(f"DELETE FROM {schema}.outbox")
            for other in SERVICE_SCHEMAS:
                if other == schema:
                    continue
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await conn.fetchval(f"SELECT count(*) FROM {other}.outbox")
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await conn.execute(f"CREATE TABLE {other}.intruder (id int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f"CREATE ROLE intruder_{uuid.uuid4().hex[:6]}")
        finally:
            await conn.close()
        # The service's own start-up migration run works as its role (and has nothing left to do).
        assert await migrate(as_role(deployed.dsn, role.role), schema, schema_migrations()[schema]) == []

    admin = await asyncpg.connect(deployed.dsn)
    try:
        foreign = await admin.fetch(
            """SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) AS owner
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'S', 'v', 'm', 'i')""", list(SERVICE_SCHEMAS))
        assert foreign, "the schemas have tables"
        assert all(row["owner"] == deployed.roles[row["nspname"]].role for row in foreign), \
            [dict(r) for r in foreign if r["owner"] != deployed.roles[r["nspname"]].role]
    finally:
        await admin.close()


async def test_services_run_end_to_end_each_as_its_own_role(deployed: Deployed, infra: Infra, token_keys,
                                                            marker_model) -> None:
    isolation = Isolation(database_url=deployed.dsn, bootstrap_servers=infra.bootstrap_servers,
                          topic_prefix=deployed.prefix, private_key=token_keys[0], public_key=token_keys[1],
                          model=marker_model)
    clients = {}
    db = await asyncpg.connect(deployed.dsn)
    try:
        for name in ("forum", "moderation", "notifications"):
            env = isolation.env(DATABASE_URL=as_role(deployed.dsn, deployed.roles[name].role))
            clients[name] = await start_client(build_app(name, env))
        stack = Stack(isolation, db=db, **clients)
        await stack.forum_app[FORUM_STORE].ensure_community("general", "General", "")
        member = await stack.register()
        thread = await stack.start_thread(member, "Ninety days today. Thank you all for the support.")
        post_id = thread["post"]["id"]
        await eventually(lambda: stack.has_status(member, post_id, "published"), timeout=60,
                         what="the post published by services running as least-privilege roles")
    finally:
        for client in reversed(list(clients.values())):
            await client.close()
        await db.close()


async def test_scram_verifier_is_the_one_postgresql_computes(infra: Infra) -> None:
    conn = await asyncpg.connect(infra.admin_dsn)
    role = f"haven_scram_{uuid.uuid4().hex[:8]}"
    try:
        await conn.execute("SET password_encryption = 'scram-sha-256'")
        await conn.execute(await conn.fetchval("SELECT format('CREATE ROLE %I PASSWORD %L', $1::text, $2::text)",
                                               role, "pencil-and-paper-123"))
        stored = await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
    finally:
        await conn.execute(await conn.fetchval("SELECT format('DROP ROLE IF EXISTS %I', $1::text)", role))
        await conn.close()
    method, _, rest = stored.partition("$")
    iterations, _, rest = rest.partition(":")
    salt_b64 = rest.split("$")[0]
    import base64

    ours = scram_sha256_verifier("pencil-and-paper-123", salt=base64.b64decode(salt_b64), iterations=int(iterations))
    assert ours == stored


async def test_schemas_migrated_by_the_administrator_are_handed_over(infra: Infra) -> None:
    """An existing deployment (or a restore with --no-owner): tables, sequences, functions change owner."""
    dsn, database = await isolated_database(infra.admin_dsn)
    suffix = uuid.uuid4().hex[:8]
    roles = {s: ServiceRole(s, f"haven_{s}_{suffix}", secrets.token_hex(16)) for s in SERVICE_SCHEMAS}
    try:
        for schema, directory in schema_migrations().items():
            await migrate(dsn, schema, directory)  # as the administrator, the way `make run` does
        await run(InitConfig(dsn, None, roles=tuple(roles.values()), wait_seconds=10), say=lambda line: None)
        admin = await asyncpg.connect(dsn)
        try:
            owners = await admin.fetch(
                """SELECT n.nspname AS schema, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
                   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1::text[])
                   UNION ALL
                   SELECT n.nspname, pg_get_userbyid(p.proowner) FROM pg_proc p
                   JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY($1::text[])
                   UNION ALL
                   SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ANY($1::text[])""",
                list(SERVICE_SCHEMAS))
        finally:
            await admin.close()
        wrong = [dict(r) for r in owners if r["owner"] != roles[r["schema"]].role]
        assert owners and not wrong, wrong
        for schema, role in roles.items():
            assert await migrate(as_role(dsn, role.role), schema, schema_migrations()[schema]) == []
    finally:
        await _drop_database_and_roles(infra.admin_dsn, database, roles)


async def _drop_database_and_roles(admin_dsn: str, database: str, roles: dict) -> None:
    await drop_database(admin_dsn, database)
    conn = await asyncpg.connect(admin_dsn)
    try:
        for role in roles.values():
            await conn.execute(await conn.fetchval("SELECT format('DROP ROLE IF EXISTS %I', $1::text)", role.role))
    finally:
        await conn.close()
