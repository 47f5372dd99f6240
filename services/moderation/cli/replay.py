"""Replay stored posts through a new policy or model and report what would change. Changes nothing.

    python -m services.moderation.cli.replay --since 2025-06-01 [--until 2025-07-01] [--community general] \\
        [--policy proposed.yaml] [--checkpoint CKPT --hf-config DIR] [--examples 5]

Reads every decided post version moderation received in ``[since, until)``
(``moderation.post_versions`` joined to its stored decision, from
``DATABASE_URL``), runs it through the worker's detectors and the policy its
community would have — the stored documents merged onto the base policy, with
``--policy`` merged on top of each, as a new ``*`` version would be — and
compares with the decision stored for it. The model flags and ``DETOXIFY_*``
variables are the service's (see ``classify``).

Prints one JSON summary on stdout: how many were compared and changed,
outcome transitions (``published -> held``), escalation changes, categories
gained and lost, per community, and a few examples per transition — post ids,
versions and categories only, never a post's text. The connection is
read-only (``default_transaction_read_only``): replay cannot write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import asyncpg

from services.common.cli import exit_status
from services.common.domain import LEVEL_RANK
from services.moderation import queries as q
from services.moderation.cli.common import (
    add_model_flags,
    connect,
    load_setup,
    reason_categories,
    started_detectors,
)
from services.moderation.detectors.pipeline import Detectors, post_text
from services.moderation.policy import Decision, Policy, decide, load_document, merge
from services.moderation.policy_book import PolicyBook, load_stored

PAGE = 500


def stored_outcome(row: Mapping[str, Any]) -> tuple[str, str | None, list[str]]:
    """(outcome, escalation level, categories) of a stored decision row."""
    reasons = json.loads(row["reasons"]) if isinstance(row["reasons"], str) else row["reasons"]
    level = None
    for reason in reasons:
        if reason.get("code") == "crisis" and LEVEL_RANK.get(reason.get("level"), -1) > LEVEL_RANK.get(level, -1):
            level = reason.get("level")
    return row["outcome"], level, sorted(reason_categories(reasons))


class Tally:
    """What would change, counted; examples carry ids and categories only."""

    def __init__(self, examples: int) -> None:
        self.examples = examples
        self.compared = 0
        self.changed = 0
        self.transitions: Counter[str] = Counter()
        self.escalations: Counter[str] = Counter()
        self.gained: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()
        self.by_community: dict[str, Counter[str]] = defaultdict(Counter)
        self.samples: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(self, row: Mapping[str, Any], new: Decision) -> None:
        old_outcome, old_level, old_categories = stored_outcome(row)
        new_categories = sorted(reason_categories(new.reasons))
        self.compared += 1
        community = self.by_community[row["community"]]
        community["compared"] += 1
        gained = sorted(set(new_categories) - set(old_categories))
        lost = sorted(set(old_categories) - set(new_categories))
        self.gained.update(gained)
        self.lost.update(lost)
        changes = []
        if new.outcome != old_outcome:
            changes.append(f"{old_outcome} -> {new.outcome}")
            self.transitions[changes[-1]] += 1
        if new.escalation_level != old_level:
            changes.append(f"escalation {old_level or 'none'} -> {new.escalation_level or 'none'}")
            self.escalations[changes[-1]] += 1
        if not changes and not (gained or lost):
            return
        self.changed += 1
        community["changed"] += 1
        key = changes[0] if changes else "categories only"
        if len(self.samples[key]) < self.examples:
            self.samples[key].append({"post_id": str(row["post_id"]), "version": row["version"],
                                      "community": row["community"], "was": old_categories, "now": new_categories,
                                      "gained": gained, "lost": lost})

    def summary(self, **context: Any) -> dict[str, Any]:
        return {**context, "compared": self.compared, "changed": self.changed,
                "outcomes": dict(self.transitions.most_common()), "escalations": dict(self.escalations.most_common()),
                "categories_gained": dict(self.gained.most_common()), "categories_lost": dict(self.lost.most_common()),
                "by_community": {c: dict(v) for c, v in sorted(self.by_community.items())},
                "examples": dict(self.samples)}


async def replay(conn: asyncpg.Connection, detectors: Detectors, book: PolicyBook, overlay: dict[str, Any] | None, *,
                 since: datetime, until: datetime, community: str | None, examples: int,
                 progress: Any = None) -> Tally:
    tally = Tally(examples)
    policies: dict[str, Policy] = {}

    def policy_of(name: str) -> Policy:
        if name not in policies:
            current = book.for_community(name)
            policies[name] = current if overlay is None else Policy.from_document(merge(current.as_json(), overlay))
        return policies[name]

    cursor: tuple[Any, Any, Any] = (None, None, None)
    started = time.perf_counter()
    while True:
        rows = await conn.fetch(q.REPLAY_PAGE, since, until, community, *cursor, PAGE)
        if not rows:
            break
        texts = [post_text({"title": r["title"], "body": r["body"]}) for r in rows]
        chosen = [policy_of(r["community"]) for r in rows]
        signals = await detectors.run(texts, [p.watched for p in chosen])
        for row, text, policy, found in zip(rows, texts, chosen, signals):
            tally.add(row, decide(policy, text, found))
        last = rows[-1]
        cursor = (last["received_at"], last["post_id"], last["version"])
        if progress:
            print(f"replay: {tally.compared} post versions, {tally.changed} would change "
                  f"({tally.compared / max(time.perf_counter() - started, 1e-9):.0f}/s)", file=progress, flush=True)
    return tally


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {value!r}") from e
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.moderation.cli.replay",
                                     description="Re-run stored posts through a policy/model; report what would change.")
    parser.add_argument("--since", type=_when, required=True, help="ISO date/time (UTC unless it says)")
    parser.add_argument("--until", type=_when, default=None, help="ISO date/time, exclusive (default: now)")
    parser.add_argument("--community", default=None, help="only this community")
    parser.add_argument("--policy", type=Path, default=None,
                        help="a document merged onto every community's current policy (the proposed change)")
    parser.add_argument("--examples", type=int, default=5, help="examples (ids only) per kind of change")
    add_model_flags(parser)
    return parser


async def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    plain = argparse.Namespace(**{**vars(args), "policy": None})
    toxicity, learned, base = load_setup(plain, environ)
    overlay = load_document(args.policy) if args.policy else None
    until = args.until or datetime.now(timezone.utc)
    conn = await connect(environ, read_only=True)
    try:
        book = PolicyBook(base, await load_stored(conn))
        if overlay is not None:
            Policy.from_document(merge(book.default.as_json(), overlay))  # a bad document fails before any work
        async with started_detectors(toxicity, learned) as detectors:
            tally = await replay(conn, detectors, book, overlay, since=args.since, until=until,
                                 community=args.community, examples=max(0, args.examples), progress=sys.stderr)
    finally:
        await conn.close()
    print(json.dumps(tally.summary(since=args.since.isoformat(), until=until.isoformat(), community=args.community,
                                   policy=str(args.policy) if args.policy else None, model=detectors.model_name),
                     indent=2))
    return 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return exit_status("replay", lambda: asyncio.run(_run(args, os.environ if environ is None else environ)))


if __name__ == "__main__":
    sys.exit(main())
