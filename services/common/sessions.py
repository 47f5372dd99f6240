"""Ended sessions and changed roles, refused on every service at once.

The same pattern as :mod:`services.common.suspensions`, for three more reasons an access token
must stop working before it expires:

* **logout** (``POST /v1/auth/logout``): the token's session (``sid`` claim, the refresh-token
  family) ends;
* **sign out everywhere** (``POST /v1/auth/logout-all``) and **a reused refresh token** (OAuth 2.0
  Security BCP: the second use of a rotated token ends its whole family): every session named;
* **a role change** (``PUT /v1/accounts/{id}/role``): a token carrying any other role than the
  account's current one is refused, so the client refreshes and gets the new role.

Forum writes the rows (``services/common/sql/003``) in the request's transaction and announces
``session.revoked`` / ``role.changed`` on ``forum.accounts`` through its outbox; moderation and
notifications apply them with :class:`AccountsHandler` (idempotent inbox consumers, so exactly
once). Every instance re-reads the rows every :data:`REFRESH_SECONDS` into memory, and
:func:`services.common.http.auth.authenticate` refuses the tokens they cover with 401: no query per
request. Revocations older than :attr:`Sessions.WINDOW_SECONDS` (the longest access-token life
plus a margin) cover no live token and are not read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime

import asyncpg

from services.common.domain import ROLES
from services.common.envelope import Event
from services.common.errors import EventError
from services.common.suspensions import REFRESH_SECONDS, refresh_forever
from services.common.tokens import Principal

SESSION_REVOKED = "session.revoked"
ROLE_CHANGED = "role.changed"

RECORD_REVOKED = """
INSERT INTO revoked_sessions (sid, user_id, revoked_at)
SELECT sid, $1, $3 FROM unnest($2::uuid[]) AS ended(sid)
ON CONFLICT (sid) DO NOTHING
"""
RECORD_NOT_BEFORE = """
INSERT INTO account_states (user_id, not_before) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE
SET not_before = greatest(account_states.not_before, EXCLUDED.not_before), updated_at = now()
"""
# Events for one account share a partition (key: user id), but a replay may bring an old one:
# only a newer change moves the role.
RECORD_ROLE = """
INSERT INTO account_states (user_id, role, role_changed_at) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE
SET role = EXCLUDED.role, role_changed_at = EXCLUDED.role_changed_at, updated_at = now()
WHERE account_states.role_changed_at IS NULL OR account_states.role_changed_at <= EXCLUDED.role_changed_at
"""
RECENTLY_REVOKED = "SELECT sid FROM revoked_sessions WHERE revoked_at > now() - make_interval(secs => $1)"
ACCOUNT_STATES = "SELECT user_id, role, not_before FROM account_states"


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


async def record_revoked(conn: asyncpg.Connection, user_id: uuid.UUID | str, sids: Iterable[uuid.UUID | str],
                         at: datetime, *, not_before: datetime | None = None) -> None:
    """Store ended sessions (and, for sign-out everywhere, the account's "not before"), in the caller's transaction."""
    await conn.execute(RECORD_REVOKED, _uuid(user_id), [_uuid(s) for s in sids], at)
    if not_before is not None:
        await conn.execute(RECORD_NOT_BEFORE, _uuid(user_id), not_before)


async def record_role(conn: asyncpg.Connection, user_id: uuid.UUID | str, role: str, at: datetime) -> None:
    """Store an account's new role, in the caller's transaction."""
    await conn.execute(RECORD_ROLE, _uuid(user_id), role, at)


def revoked_event(user_id: str, sids: list[str], at: datetime, reason: str, *, everywhere: bool,
                  producer: str, trace_id: str) -> Event:
    return Event.create(SESSION_REVOKED, key=user_id, producer=producer, trace_id=trace_id,
                        data={"user_id": user_id, "sids": sids, "all": everywhere, "at": at.isoformat(),
                              "reason": reason})


def role_event(user_id: str, role: str, previous_role: str, changed_by: str, at: datetime, *,
               producer: str, trace_id: str) -> Event:
    return Event.create(ROLE_CHANGED, key=user_id, producer=producer, trace_id=trace_id,
                        data={"user_id": user_id, "role": role, "previous_role": previous_role,
                              "changed_by": changed_by, "at": at.isoformat()})


RoleHook = Callable[[asyncpg.Connection, Event], Awaitable[None]]


class AccountsHandler:
    """Consumer handler for ``forum.accounts``: records each ended session and role change.

    ``on_role_changed`` runs in the same transaction for a service's own effects (moderation
    audits the change; notifications stops paging a demoted crisis worker).
    """

    def __init__(self, on_role_changed: RoleHook | None = None) -> None:
        self._on_role_changed = on_role_changed

    async def prepare(self, events: list[Event]) -> None:
        return None

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        data = event.data
        try:
            user_id = uuid.UUID(data["user_id"])
            at = datetime.fromisoformat(data["at"])
        except (KeyError, TypeError, ValueError) as e:
            raise EventError(f"{event.type} names an invalid account or time") from e
        if event.type == SESSION_REVOKED:
            try:
                sids = [uuid.UUID(s) for s in data.get("sids") or []]
            except (TypeError, ValueError, AttributeError) as e:
                raise EventError("session.revoked names an invalid session") from e
            await record_revoked(conn, user_id, sids, at, not_before=at if data.get("all") else None)
        elif event.type == ROLE_CHANGED:
            if data.get("role") not in ROLES:
                raise EventError("role.changed names an unknown role")
            await record_role(conn, user_id, data["role"], at)
            if self._on_role_changed is not None:
                await self._on_role_changed(conn, event)


class Sessions:
    """This instance's in-memory copy of ended sessions, changed roles and "not before" times."""

    WINDOW_SECONDS = 3700  # ACCESS_TOKEN_TTL_SECONDS is at most 3600: older revocations cover no live token
    LOCAL_GRACE_SECONDS = 10.0  # what this instance learnt itself outlives a refresh that raced with it

    def __init__(self) -> None:
        self._revoked: frozenset[str] = frozenset()
        self._roles: dict[str, str] = {}
        self._not_before: dict[str, float] = {}
        self._local: list[tuple[float, str, object]] = []

    def refuses(self, principal: Principal, now: float | None = None) -> str | None:
        """Why this (verified) token may no longer be used, or None. Memory lookups only."""
        if principal.sid is not None and principal.sid in self._revoked:
            return "this session has ended; sign in again"
        not_before = self._not_before.get(principal.user_id)
        if principal.sid is None and not_before is not None and principal.issued_at < not_before:
            return "this session has ended; sign in again"
        role = self._roles.get(principal.user_id)
        if role is not None and role != principal.role:
            return "your role has changed; refresh your session"
        return None

    def load(self, *, revoked_sids: Iterable[str], roles: Mapping[str, str],
             not_before: Mapping[str, datetime]) -> None:
        """Replace the copy (what :meth:`refresh` read), keeping what this instance learnt moments ago."""
        revoked, roles, nb = set(revoked_sids), dict(roles), {u: t.timestamp() for u, t in not_before.items()}
        horizon = time.monotonic() - self.LOCAL_GRACE_SECONDS
        self._local = [entry for entry in self._local if entry[0] > horizon]
        for _, kind, value in self._local:
            if kind == "sid":
                revoked.add(value)  # type: ignore[arg-type]
            elif kind == "role":
                user_id, role = value  # type: ignore[misc]
                roles[user_id] = role
            else:
                user_id, at = value  # type: ignore[misc]
                nb[user_id] = max(nb.get(user_id, 0.0), at)
        self._revoked, self._roles, self._not_before = frozenset(revoked), roles, nb

    def revoke_here(self, sids: Iterable[str], user_id: str | None = None, not_before: datetime | None = None) -> None:
        """Forum, after committing a revocation: this instance refuses the tokens now, not a refresh later."""
        now = time.monotonic()
        sids = [str(s) for s in sids]
        self._local += [(now, "sid", s) for s in sids]
        self._revoked = self._revoked | frozenset(sids)
        if user_id is not None and not_before is not None:
            self._local.append((now, "not_before", (user_id, not_before.timestamp())))
            self._not_before = {**self._not_before,
                                user_id: max(self._not_before.get(user_id, 0.0), not_before.timestamp())}

    def set_role_here(self, user_id: str, role: str) -> None:
        self._local.append((time.monotonic(), "role", (user_id, role)))
        self._roles = {**self._roles, user_id: role}

    async def refresh(self, pool: asyncpg.Pool) -> None:
        sids = await pool.fetch(RECENTLY_REVOKED, float(self.WINDOW_SECONDS))
        states = await pool.fetch(ACCOUNT_STATES)
        self.load(revoked_sids=[str(r["sid"]) for r in sids],
                  roles={str(r["user_id"]): r["role"] for r in states if r["role"] is not None},
                  not_before={str(r["user_id"]): r["not_before"] for r in states if r["not_before"] is not None})

    async def watch(self, pool: asyncpg.Pool, interval: float = REFRESH_SECONDS) -> None:
        await refresh_forever(self.refresh, pool, "session list", interval)
