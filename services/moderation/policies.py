"""Per-community policy documents: stored versioned in PostgreSQL, merged onto the shipped default.

A community's effective policy is the base document (``policy_default.yaml``
or ``POLICY_FILE``, with the ``POLICY_*`` overrides), then the latest document
stored for ``*`` (every community), then the latest stored for the community,
each merged onto the previous (:func:`services.moderation.policy.merge`). Its
version names every layer, e.g. ``default-1+all@site-2+general@g-7``, and is
stored with each decision.

The service loads the book when it starts and re-reads it every
``POLICY_RELOAD_SECONDS``; a document that no longer validates is skipped
(logged) and that community keeps the layers below it.

Operators use the command line::

    python -m services.moderation.policies validate FILE [--community general]
    python -m services.moderation.policies put --community general FILE [--by alex]
    python -m services.moderation.policies show [--community general]

``put`` refuses a document that does not validate, and a version that already
exists with other content (versions are immutable).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from services.common.config import EnvReader
from services.common.errors import ConfigError
from services.moderation import queries as q
from services.moderation.config import SCHEMA, policy_from_env
from services.moderation.policy import Policy, load_document, merge

log = logging.getLogger(__name__)

ALL = "*"


@dataclasses.dataclass(frozen=True)
class StoredPolicy:
    community: str
    version: str
    document: dict[str, Any]


class PolicyBook:
    """Every community's effective policy, composed once per load (not per post)."""

    def __init__(self, base: Policy, stored: Iterable[StoredPolicy] = ()) -> None:
        self.base = base
        layers = {row.community: row for row in stored}
        self.default = _compose(base, [layers[ALL]] if ALL in layers else [])
        self._communities = {name: _compose(base, [layers[n] for n in (ALL, name) if n in layers])
                             for name in layers if name != ALL}

    def for_community(self, community: str | None) -> Policy:
        return self._communities.get(community or "", self.default)

    @property
    def communities(self) -> Mapping[str, Policy]:
        return dict(self._communities)


def _compose(base: Policy, layers: list[StoredPolicy]) -> Policy:
    document, names = base.as_json(), [base.version]
    for layer in layers:
        try:
            candidate = merge(document, layer.document)
            Policy.from_document(candidate)
        except ConfigError as e:
            log.error("policy %s@%s is invalid and is skipped: %s", layer.community, layer.version,
                      " ".join(str(e).split()))
            continue
        document = candidate
        names.append(f"{'all' if layer.community == ALL else layer.community}@{layer.version}")
    return dataclasses.replace(Policy.from_document(document), version="+".join(names))


async def load_stored(conn: asyncpg.Connection | asyncpg.Pool) -> list[StoredPolicy]:
    rows = await conn.fetch(q.LATEST_POLICIES)
    return [StoredPolicy(r["community"], r["version"], json.loads(r["document"])) for r in rows]


async def load_book(conn: asyncpg.Connection | asyncpg.Pool, base: Policy) -> PolicyBook:
    return PolicyBook(base, await load_stored(conn))


class PolicyHolder:
    """The current :class:`PolicyBook`; the worker reads it per post, the reloader swaps it."""

    def __init__(self, book: PolicyBook) -> None:
        self.book = book

    def for_community(self, community: str | None) -> Policy:
        return self.book.for_community(community)


POLICIES = web.AppKey("policies", PolicyHolder)


class PolicyReloader:
    """Re-reads the stored documents every ``seconds`` (a ``Stoppable`` for ``background_ctx``)."""

    def __init__(self, pool: asyncpg.Pool, holder: PolicyHolder, seconds: float) -> None:
        self._pool = pool
        self._holder = holder
        self._seconds = seconds
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                await asyncio.wait_for(self._stopped.wait(), self._seconds)
                return
            except asyncio.TimeoutError:
                pass
            try:
                self._holder.book = await load_book(self._pool, self._holder.book.base)
            except Exception:  # noqa: BLE001 - keep the policy in force and try again next time
                log.warning("reloading policies failed; keeping the current ones", exc_info=True)


# --- command line ----------------------------------------------------------------------------------------------


def _base_policy(environ: Mapping[str, str]) -> Policy:
    env = EnvReader(environ)
    policy = policy_from_env(env)
    env.raise_if_problems()
    return policy


async def _connect(environ: Mapping[str, str]) -> asyncpg.Connection:
    dsn = environ.get("DATABASE_URL", "").strip()
    if not dsn:
        raise ConfigError("DATABASE_URL is required")
    return await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})


async def _put(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    document = load_document(args.file)
    base = _base_policy(environ)
    version = document.get("version")
    if not isinstance(version, str):
        raise ConfigError("the document needs a version")
    conn = await _connect(environ)
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
    conn = await _connect(environ)
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
    parser = argparse.ArgumentParser(prog="python -m services.moderation.policies",
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
    try:
        if args.command == "validate":
            return _validate(args, environ)
        return asyncio.run(_put(args, environ) if args.command == "put" else _show(args, environ))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as e:
        print(f"error: database: {e.__class__.__name__}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
