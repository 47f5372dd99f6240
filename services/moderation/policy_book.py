"""Per-community policy documents: stored versioned in PostgreSQL, merged onto the shipped default.

A community's effective policy is the base document (``policy_default.yaml``
or ``POLICY_FILE``, with the ``POLICY_*`` overrides), then the latest document
stored for ``*`` (every community), then the latest stored for the community,
each merged onto the previous (:func:`services.moderation.policy.merge`). Its
version names every layer, e.g. ``default-1+all@site-2+general@g-7``, and is
stored with each decision.

The service loads the book when it starts (:func:`load_book`) and the
:class:`PolicyReloader` re-reads it every ``POLICY_RELOAD_SECONDS``; a document
that no longer validates is skipped (logged) and that community keeps the
layers below it. Operators store and show documents with
``python -m services.moderation.cli.policies``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import asyncpg

from services.common.errors import ConfigError
from services.common.periodic import PeriodicWorker
from services.moderation import queries as q
from services.moderation.policy import Policy, merge

log = logging.getLogger(__name__)

#: The community name of the layer every community gets.
ALL = "*"


@dataclasses.dataclass(frozen=True)
class StoredPolicy:
    community: str
    version: str
    document: dict[str, Any]


class PolicySource(Protocol):
    """Where the handlers read a community's policy: a :class:`PolicyHolder`, or one :class:`SinglePolicy`."""

    def for_community(self, community: str | None) -> Policy: ...


class SinglePolicy:
    """One policy for every community (tests, tools)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def for_community(self, community: str | None) -> Policy:
        return self.policy


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
    """The current :class:`PolicyBook`; the handlers read it per post, the reloader swaps it."""

    def __init__(self, book: PolicyBook) -> None:
        self.book = book

    def for_community(self, community: str | None) -> Policy:
        return self.book.for_community(community)


class PolicyReloader(PeriodicWorker):
    """Re-reads the stored documents every ``seconds``; a failed read keeps the policies in force."""

    name = "policy-reloader"

    def __init__(self, pool: asyncpg.Pool, holder: PolicyHolder, seconds: float) -> None:
        super().__init__(seconds)
        self._pool = pool
        self._holder = holder

    async def run(self) -> None:
        # The book was loaded as the service started: the first reload is one interval later.
        if not await self.pause(self.interval_seconds):
            await super().run()

    async def tick(self) -> None:
        self._holder.book = await load_book(self._pool, self._holder.book.base)
