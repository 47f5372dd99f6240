"""Create an account with a role (the first admin, staff) and print it as JSON.

    python -m services.forum.cli.create_user --handle H [--password P] --role R [--email E]

Applies forum's migrations first if needed (safe to repeat). The password is asked for when
``--password`` is left out, which keeps it out of shell history.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
from datetime import timedelta

from services.common.cli import exit_status, fail
from services.common.db import close_pool, create_pool
from services.common.domain import ROLES
from services.common.service import migrate
from services.forum.config import SCHEMA
from services.forum.main import MIGRATIONS
from services.forum.store import ForumStore
from services.forum.views import HANDLE, PASSWORD_MAX, PASSWORD_MIN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.forum.cli.create_user",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--handle", required=True)
    parser.add_argument("--password", help="omit to be asked (keeps it out of shell history)")
    parser.add_argument("--role", choices=ROLES, default="member")
    parser.add_argument("--email")
    args = parser.parse_args(argv)
    dsn = os.environ.get("DATABASE_URL", "").strip()
    if not dsn:
        return fail("error", "DATABASE_URL is required (make run prints it)")
    if not HANDLE.match(args.handle):
        return fail("error", "handle may hold letters, digits, '_', '.', '-' (3-32)")
    password = args.password if args.password is not None else getpass.getpass("password: ")
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return fail("error", f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    # A domain error (a taken handle) and an unreachable database alike: one line, status 2.
    return exit_status("error", lambda: asyncio.run(print_new_user(dsn, args.handle, password, args.role,
                                                                   args.email)))


async def print_new_user(dsn: str, handle: str, password: str, role: str, email: str | None) -> None:
    print(json.dumps(await create_user(dsn, handle, password, role, email)))


async def create_user(dsn: str, handle: str, password: str, role: str, email: str | None) -> dict:
    await migrate(dsn, SCHEMA, MIGRATIONS)
    pool = await create_pool(dsn, SCHEMA, min_size=1, max_size=2)
    try:
        return await ForumStore(pool, refresh_ttl=timedelta(days=1)).create_user(handle, password, role, email)
    finally:
        await close_pool(pool)


if __name__ == "__main__":
    raise SystemExit(main())
