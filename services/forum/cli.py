"""Admin command line for forum.

    python -m services.forum.cli create-user --handle H --password P --role R [--email E]

Connects to ``DATABASE_URL``, applies forum's migrations if needed (safe to
repeat), creates the user and prints it as JSON. Exit status 2 with a one-line
message on bad input or an unreachable database.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from datetime import timedelta

from services.common.db import close_pool, create_pool
from services.common.errors import DomainError, HavenError
from services.common.service import migrate
from services.common.tokens import ROLES
from services.forum.config import SCHEMA
from services.forum.main import MIGRATIONS
from services.forum.store import ForumStore
from services.forum.views import HANDLE, PASSWORD_MAX, PASSWORD_MIN


async def create_user(dsn: str, handle: str, password: str, role: str, email: str | None) -> dict:
    await migrate(dsn, SCHEMA, MIGRATIONS)
    pool = await create_pool(dsn, SCHEMA, min_size=1, max_size=2)
    try:
        return await ForumStore(pool, refresh_ttl=timedelta(days=1)).create_user(handle, password, role, email)
    finally:
        await close_pool(pool)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.forum.cli", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create a user with a role and print it as JSON")
    create.add_argument("--handle", required=True)
    create.add_argument("--password", help="omit to be asked (keeps it out of shell history)")
    create.add_argument("--role", choices=ROLES, default="member")
    create.add_argument("--email")
    args = parser.parse_args(argv)

    dsn = os.environ.get("DATABASE_URL", "").strip()
    if not dsn:
        print("error: DATABASE_URL is required (make run prints it)", file=sys.stderr)
        return 2
    if not HANDLE.match(args.handle):
        print("error: handle may hold letters, digits, '_', '.', '-' (3-32)", file=sys.stderr)
        return 2
    password = args.password if args.password is not None else getpass.getpass("password: ")
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        print(f"error: password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters", file=sys.stderr)
        return 2
    try:
        user = asyncio.run(create_user(dsn, args.handle, password, args.role, args.email))
    except DomainError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except HavenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(user))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
