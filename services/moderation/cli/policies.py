"""Validate, store and show per-community moderation policy documents (operators).

    python -m services.moderation.cli.policies validate FILE
    python -m services.moderation.cli.policies put --community general FILE [--by alex]
    python -m services.moderation.cli.policies show [--community general]

``validate`` merges the document onto the base policy (``POLICY_FILE`` or the
shipped default, ``POLICY_*`` overrides) and prints the result; ``put`` stores
a new version for a community (``*``: every community) in ``DATABASE_URL``;
``show`` prints a community's effective policy and the stored versions. How
the layers compose: :mod:`services.moderation.policy_book`.

``put`` refuses a document that does not validate, and a version that already
exists with other content (versions are immutable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from services.common.cli import exit_status
from services.common.config import EnvReader
from services.common.errors import ConfigError
from services.moderation import queries as q
from services.moderation.cli.common import connect
from services.moderation.config import policy_from_env
from services.moderation.policy import Policy, load_document, merge
from services.moderation.policy_book import ALL, load_book



def _base_policy(environ: Mapping[str, str]) -> Policy:
    env = EnvReader(environ)
    policy = policy_from_env(env)
    env.raise_if_problems()
    return policy


async def _put(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    document = load_document(args.file)
    base = _base_policy(environ)
    version = document.get("version")
    if not isinstance(version, str):
        raise ConfigError("the document needs a version")
    conn = await connect(environ)
    try:
        book = await load_book(conn, base)
        below = book.default if args.community != ALL else base
        Policy.from_document(merge(below.as_json(), document))  # refuses what would not validate
        async with conn.transaction():
            created = await conn.fetchval(q.INSERT_POLICY, args.community, version, json.dumps(document), args.by)
            if created is None:
                existing = json.loads(await conn.fetchval(q.POLICY_DOCUMENT, args.community, version))
                if existing != document:
                    raise ConfigError(f"version {version!r} of {args.community!r} exists with other content; "
                                      "versions are immutable, use a new one")
                print(f"{args.community}@{version} is already stored")
                return 0
        effective = (await load_book(conn, base)).for_community(None if args.community == ALL else args.community)
    finally:
        await conn.close()
    print(f"stored {args.community}@{version}; effective policy now {effective.version}")
    return 0


async def _show(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    base = _base_policy(environ)
    conn = await connect(environ)
    try:
        book = await load_book(conn, base)
        history = await conn.fetch(q.POLICY_HISTORY, args.community)
    finally:
        await conn.close()
    print(json.dumps({"effective": book.for_community(args.community).as_json(),
                      "history": [{"community": r["community"], "version": r["version"], "by": r["created_by"],
                                   "created_at": r["created_at"].isoformat()} for r in history]}, indent=2))
    return 0


def _validate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    base = _base_policy(environ)
    policy = Policy.from_document(merge(base.as_json(), load_document(args.file)))
    print(json.dumps(policy.as_json(), indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.moderation.cli.policies",
                                     description="Validate, store and show per-community moderation policies.")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check a document merged onto the base policy; print the result")
    validate.add_argument("file", type=Path)
    put = sub.add_parser("put", help="store a new version for a community (DATABASE_URL)")
    put.add_argument("file", type=Path)
    put.add_argument("--community", required=True, help="a community slug, or '*' for every community")
    put.add_argument("--by", default=None, help="who is storing it (kept with the version)")
    show = sub.add_parser("show", help="print a community's effective policy and the stored versions")
    show.add_argument("--community", default=None)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    if args.command == "validate":
        return exit_status("policies", lambda: _validate(args, environ))
    return exit_status("policies", lambda: asyncio.run(_put(args, environ) if args.command == "put"
                                                       else _show(args, environ)))


if __name__ == "__main__":
    sys.exit(main())
