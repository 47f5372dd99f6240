"""PostgreSQL roles per service, least privilege: each service can touch only its own schema.

Run by the init job as the database's administrator (a superuser, or a role
with CREATEROLE that owns the database), never by the services. For each
service it makes sure that:

* a LOGIN role exists (``haven_forum``, ``haven_moderation``,
  ``haven_notifications``) with no other attribute (not superuser, cannot
  create roles or databases, no replication, no RLS bypass) and the given
  password, sent as a SCRAM-SHA-256 verifier computed here, so the clear
  password never reaches the server (nor its logs);
* the role owns its schema and everything in it (objects an earlier,
  administrator-run migration created are handed over), so the service's own
  start-up migration run keeps working, and nobody else gets any privilege
  on that schema: ``REVOKE ALL ... FROM PUBLIC``, and no grant to the other
  services' roles. Without USAGE on a schema a role cannot read, write or even
  name its tables: "permission denied for schema";
* default privileges: whatever the administrator later creates in the schema
  (a hand-run hotfix migration) is granted to the service's role, and
  functions the role creates are not executable by PUBLIC;
* the database itself: ``REVOKE ALL ... FROM PUBLIC``, then CONNECT for the
  three roles, and CREATE, which PostgreSQL checks before it looks whether the
  schema exists when the services' start-up migration says
  ``CREATE SCHEMA IF NOT EXISTS``. (CREATE on the database lets a role create
  a new, empty schema of its own; it grants nothing on any other schema.)

Running it again is a no-op apart from setting the passwords again (rotation:
change the secret, run the init job, restart the services).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from services.common.errors import ConfigError

SERVICE_SCHEMAS: tuple[str, ...] = ("forum", "moderation", "notifications")
PASSWORD_ENV = {schema: f"{schema.upper()}_DB_PASSWORD" for schema in SERVICE_SCHEMAS}
MIN_PASSWORD_LENGTH = 16
SCRAM_ITERATIONS = 4096
_PASSWORD = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: SCRAM needs no SASLprep, DSNs stay simple


@dataclass(frozen=True)
class ServiceRole:
    """The login role of one service and the one schema it may touch."""

    schema: str
    role: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.password) < MIN_PASSWORD_LENGTH or not _PASSWORD.match(self.password):
            raise ConfigError(f"the password of {self.role} must be at least {MIN_PASSWORD_LENGTH} printable "
                              "ASCII characters without spaces (e.g. `openssl rand -hex 24`)")


def default_role(schema: str) -> str:
    return f"haven_{schema}"


def roles_from_env(environ: dict[str, str]) -> list[ServiceRole]:
    """The three service roles with their passwords from ``<SCHEMA>_DB_PASSWORD``; every problem reported."""
    problems, roles = [], []
    for schema in SERVICE_SCHEMAS:
        password = environ.get(PASSWORD_ENV[schema], "").strip()
        if not password:
            problems.append(f"{PASSWORD_ENV[schema]} is required (the password of role {default_role(schema)})")
            continue
        try:
            roles.append(ServiceRole(schema, default_role(schema), password))
        except ConfigError as e:
            problems.append(f"{PASSWORD_ENV[schema]}: {e}")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return roles


def scram_sha256_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """What PostgreSQL stores for ``password`` with ``password_encryption = scram-sha-256`` (RFC 5802/7677)."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


async def _execute(conn: asyncpg.Connection, template: str, *values: str) -> None:
    """Run a statement whose identifiers/literals are quoted by the server's ``format()`` (%I, %L)."""
    placeholders = ", ".join(f"${i + 2}::text" for i in range(len(values)))
    statement = await conn.fetchval(f"SELECT format($1::text, {placeholders})", template, *values)
    await conn.execute(statement)


# Relations of a schema not owned by the role: tables first (ALTER TABLE ... OWNER also
# hands over their indexes, triggers and serial sequences), then what is left.
_RELATIONS = """
SELECT c.relname, c.relkind::text AS relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relowner <> $2::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
ORDER BY c.relkind IN ('S'), c.relname
"""
_ALTER_RELATION = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE",
                   "S": "SEQUENCE"}
_ROUTINES = """
SELECT p.oid::regprocedure::text AS signature, p.prokind::text AS prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = $1 AND p.proowner <> $2::regrole
"""
_ALTER_ROUTINE = {"f": "FUNCTION", "p": "PROCEDURE", "a": "AGGREGATE", "w": "FUNCTION"}
_TYPES = """
SELECT t.oid::regtype::text AS name, t.typtype::text AS typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE n.nspname = $1 AND t.typowner <> $2::regrole AND t.typtype IN ('e', 'd', 'r', 'c')
  AND (t.typrelid = 0 OR c.relkind = 'c')
"""


async def apply_roles(conn: asyncpg.Connection, roles: Sequence[ServiceRole]) -> None:
    """Create or update the roles and make each the only one able to use its schema (one transaction)."""
    database = await conn.fetchval("SELECT current_database()")
    admin = await conn.fetchval("SELECT current_user")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('haven-roles'))")
        await _execute(conn, "REVOKE ALL ON DATABASE %I FROM PUBLIC", database)
        for role in roles:
            exists = await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role.role)
            verb = "ALTER" if exists else "CREATE"
            await _execute(conn, f"{verb} ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                                 "NOBYPASSRLS PASSWORD %L", role.role, scram_sha256_verifier(role.password))
            await _execute(conn, "GRANT CONNECT, CREATE ON DATABASE %I TO %I", database, role.role)
            if not await conn.fetchval("SELECT true FROM pg_namespace WHERE nspname = $1", role.schema):
                await _execute(conn, "CREATE SCHEMA %I AUTHORIZATION %I", role.schema, role.role)
            await _execute(conn, "ALTER SCHEMA %I OWNER TO %I", role.schema, role.role)
            await _execute(conn, "REVOKE ALL ON SCHEMA %I FROM PUBLIC", role.schema)
            await _hand_over(conn, role)
            await _execute(conn, "ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT ALL ON TABLES TO %I",
                           admin, role.schema, role.role)
            await _execute(conn, "ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT ALL ON SEQUENCES TO %I",
                           admin, role.schema, role.role)
            await _execute(conn, "ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC",
                           role.role)
        for role in roles:  # no role keeps any privilege on another service's schema
            for other in roles:
                if other.schema != role.schema:
                    await _execute(conn, "REVOKE ALL ON SCHEMA %I FROM %I", other.schema, role.role)
                    await _execute(conn, "REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I", other.schema, role.role)


async def _hand_over(conn: asyncpg.Connection, role: ServiceRole) -> None:
    """Make ``role`` the owner of everything in its schema (idempotent: only what it does not own yet)."""
    for row in await conn.fetch(_RELATIONS, role.schema, role.role):
        if row["relkind"] == "S" and await _owned_by_column(conn, role.schema, row["relname"]):
            continue  # moved with its table
        await _execute(conn, f"ALTER {_ALTER_RELATION[row['relkind']]} %I.%I OWNER TO %I",
                       role.schema, row["relname"], role.role)
    for row in await conn.fetch(_ROUTINES, role.schema, role.role):
        # regprocedure text is already a quoted, schema-qualified signature.
        await _execute(conn, f"ALTER {_ALTER_ROUTINE[row['prokind']]} {row['signature']} OWNER TO %I", role.role)
    for row in await conn.fetch(_TYPES, role.schema, role.role):
        kind = "DOMAIN" if row["typtype"] == "d" else "TYPE"
        await _execute(conn, f"ALTER {kind} {row['name']} OWNER TO %I", role.role)


async def _owned_by_column(conn: asyncpg.Connection, schema: str, sequence: str) -> bool:
    return bool(await conn.fetchval(
        """SELECT true FROM pg_depend d JOIN pg_class s ON s.oid = d.objid JOIN pg_namespace n ON n.oid = s.relnamespace
           WHERE n.nspname = $1 AND s.relname = $2 AND d.classid = 'pg_class'::regclass
             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')""", schema, sequence))
