"""Suspended accounts, refused on every service at once (token revocation on suspension).

Access tokens are stateless and live up to ``ACCESS_TOKEN_TTL_SECONDS``; a
suspension must not wait for them to expire. Each service keeps a
``suspensions`` table in its own schema (``services/common/sql/002``),
written in the same transaction as the effect that learns of it:

* moderation, when a moderator suspends (``review.py``);
* forum and notifications, when they apply ``action.taken`` / ``suspend``
  from ``moderation.actions`` (idempotent consumers, so exactly once).

Every instance re-reads the rows still in force every
:data:`REFRESH_SECONDS` (a primary-key-sized table; the read is one indexed
range scan) into memory, and :func:`services.common.http.auth.authenticate`
refuses a suspended account's tokens with 403 before any view runs. So a
suspension bites on every instance of every service within the event's
propagation time plus one refresh (about a second), while a request costs
no extra query. The end of a suspension needs no event: ``until`` passes.
An admin may end one early (moderation's ``POST /v1/users/{id}/unsuspend``):
:func:`lift_suspension` in moderation's transaction, and in forum's and
notifications' when they apply ``action.taken`` / ``unsuspend``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import asyncpg

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0

RECORD = """
INSERT INTO suspensions (user_id, until) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET until = EXCLUDED.until, updated_at = now()
"""
IN_FORCE = "SELECT user_id, until FROM suspensions WHERE until > now()"
# An admin lifted it (action.taken / unsuspend): it ends now, so the next refresh drops it.
LIFT = "UPDATE suspensions SET until = now(), updated_at = now() WHERE user_id = $1 AND until > now()"


async def record_suspension(conn: asyncpg.Connection, user_id: uuid.UUID | str, until: datetime) -> None:
    """Store (or move) a suspension, in the caller's transaction."""
    await conn.execute(RECORD, user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(user_id), until)


async def lift_suspension(conn: asyncpg.Connection, user_id: uuid.UUID | str) -> None:
    """End a suspension now (an admin lifted it), in the caller's transaction; every instance lets the
    account's tokens in again at its next refresh. A no-op when none is in force."""
    await conn.execute(LIFT, user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(user_id))


class Suspensions:
    """This instance's in-memory copy of the suspensions in force."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}

    def until(self, user_id: str) -> datetime | None:
        """When the account's suspension ends, or None when it is not suspended now."""
        until = self._until.get(user_id)
        return until if until is not None and until > datetime.now(timezone.utc) else None

    async def refresh(self, pool: asyncpg.Pool) -> None:
        rows = await pool.fetch(IN_FORCE)
        self._until = {str(row["user_id"]): row["until"] for row in rows}

    async def watch(self, pool: asyncpg.Pool, interval: float = REFRESH_SECONDS) -> None:
        await refresh_forever(self.refresh, pool, "suspension list", interval)


async def refresh_forever(refresh: Callable[[asyncpg.Pool], Awaitable[None]], pool: asyncpg.Pool, what: str,
                          interval: float = REFRESH_SECONDS) -> None:
    """Run ``refresh`` every ``interval``; a failed read keeps the last copy (and says so once per outage).

    The watch loop of every in-memory copy a service keeps of a table (suspensions, ended sessions).
    """
    failing = False
    while True:
        try:
            await refresh(pool)
            if failing:
                log.info("%s readable again", what)
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - an outage must not stop the watcher
            if not failing:
                log.warning("cannot refresh the %s (%s); keeping the last one", what, e.__class__.__name__)
            failing = True
        await asyncio.sleep(interval)
