"""The migration runner on a real database, and the user CLI end to end."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import asyncpg

from services.common.migrations import COMMON_MIGRATIONS, discover
from services.common.service import migrate
from services.forum.main import MIGRATIONS as FORUM
from services.moderation.main import MIGRATIONS as MODERATION
from tests.support.stack import Isolation


async def test_migrations_apply_once_even_when_run_concurrently(isolation: Isolation) -> None:
    shipped = [m.version for m in discover(COMMON_MIGRATIONS, FORUM)]
    runs = await asyncio.gather(*(migrate(isolation.database_url, "forum", FORUM) for _ in range(4)))
    applied = sorted(v for run in runs for v in run)
    assert applied == shipped, f"each file exactly once across concurrent runners, got {runs}"
    assert await migrate(isolation.database_url, "forum", FORUM) == []
    conn = await asyncpg.connect(isolation.database_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM forum.schema_migrations ORDER BY 1")]
        assert versions == shipped
        # Each schema has its own ledger and its own copy of the shared tables.
        assert await migrate(isolation.database_url, "moderation", MODERATION) == [
            m.version for m in discover(COMMON_MIGRATIONS, MODERATION)]
        tables = {(r["table_schema"], r["table_name"]) for r in await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name IN ('outbox', 'inbox')")}
        assert tables == {("forum", "outbox"), ("forum", "inbox"), ("moderation", "outbox"), ("moderation", "inbox")}
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_the_schema_untouched(isolation: Isolation, tmp_path) -> None:
    (tmp_path / "010_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "011_bad.sql").write_text("CREATE TABLE broken (id int; -- syntax error")
    conn = await asyncpg.connect(isolation.database_url)
    try:
        from services.common.migrations import apply_migrations

        try:
            await apply_migrations(conn, "scratch", tmp_path)
            raise AssertionError("a broken migration must fail")
        except asyncpg.PostgresSyntaxError:
            pass
        assert await conn.fetchval("SELECT to_regclass('scratch.good')") is None
    finally:
        await conn.close()


def _cli(isolation: Isolation, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": isolation.database_url, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "services.forum.cli.create_user", *args], env=env, capture_output=True,
                          text=True, timeout=120)


async def test_cli_creates_a_user_with_a_role_and_prints_json(isolation: Isolation) -> None:
    loop = asyncio.get_running_loop()
    args = ("--handle", "sam_mod", "--password", "a long enough password", "--role", "moderator")
    result = await loop.run_in_executor(None, lambda: _cli(isolation, *args))
    assert result.returncode == 0, result.stderr
    user = json.loads(result.stdout)
    assert (user["handle"], user["role"]) == ("sam_mod", "moderator") and user["id"]
    assert "a long enough password" not in result.stdout + result.stderr

    again = await loop.run_in_executor(None, lambda: _cli(isolation, *args))
    assert again.returncode == 2 and again.stderr.strip() == "error: that handle is taken"
    bad_role = await loop.run_in_executor(None, lambda: _cli(isolation, "--handle", "x_y_z",
                                                             "--password", "a long enough password", "--role", "king"))
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    no_db = await loop.run_in_executor(None, lambda: _cli(isolation, *args, env_extra={"DATABASE_URL": ""}))
    assert no_db.returncode == 2 and no_db.stderr.startswith("error: DATABASE_URL is required")
