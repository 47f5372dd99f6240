"""Migration runner: numbered plain ``.sql`` files, one schema per service.

Files are named ``NNN_description.sql`` and applied in number order, recorded
in ``<schema>.schema_migrations``. One run is one transaction holding an
advisory lock keyed on the schema, so two replicas starting at once apply each
file exactly once, a failed file leaves the schema as it was, and running again
is a no-op.

Every schema gets the shared plumbing tables (outbox, inbox) from
``services/common/sql`` (numbers below 010) followed by the service's
own files (numbers from 010), so the shared tables are written once.

Identifiers cannot be bound as parameters; the server quotes them for us with
``format('%I', $1)``, so no SQL is assembled from strings in Python.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.common.errors import ConfigError

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, order=True)
class Migration:
    version: int
    name: str
    path: Path


COMMON_MIGRATIONS = Path(__file__).with_name("sql")


def discover(*directories: Path) -> list[Migration]:
    """The migrations in ``directories``, ordered; rejects misnamed files and duplicate numbers."""
    found: dict[int, Migration] = {}
    for path in sorted(p for d in directories for p in d.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise ConfigError(f"migration file {path.name} is not named NNN_description.sql")
        version = int(match.group(1))
        if version in found:
            raise ConfigError(f"two migrations share number {version}: {found[version].path.name}, {path.name}")
        found[version] = Migration(version, match.group(2), path)
    return sorted(found.values())


async def _execute_with_identifier(conn: asyncpg.Connection, template: str, identifier: str) -> None:
    statement = await conn.fetchval("SELECT format($1::text, $2::text)", template, identifier)
    await conn.execute(statement)


async def apply_migrations(conn: asyncpg.Connection, schema: str, directory: Path) -> list[int]:
    """Apply every pending migration of ``schema`` (shared ones first); returns the versions applied now."""
    migrations = discover(COMMON_MIGRATIONS, directory)
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('haven-migrations'), hashtext($1))", schema)
        await _execute_with_identifier(conn, "CREATE SCHEMA IF NOT EXISTS %I", schema)
        await _execute_with_identifier(conn, "SET LOCAL search_path TO %I", schema)
        await conn.execute(_CREATE_LEDGER)
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in migrations:
            if migration.version in done:
                continue
            log.info("applying migration %s %03d_%s", schema, migration.version, migration.name)
            await conn.execute(migration.path.read_text(encoding="utf-8"))
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", migration.version, migration.name
            )
            applied_now.append(migration.version)
    return applied_now
