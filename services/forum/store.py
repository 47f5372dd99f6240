"""Forum domain operations: each one a transaction of queries (queries.py) plus its outbox event (events.py).

Views call these and never touch asyncpg. Rules of the domain live here and
surface as :mod:`services.common.errors` domain errors; driver errors are
translated at this boundary.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common import outbox
from services.common.db import connection, transaction
from services.common.domain import ROLES, STAFF_ROLES
from services.common.errors import AccountSuspended, Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from services.common.sessions import record_revoked, record_role
from services.common.tokens import Principal
from services.common.topics import FORUM_ACCOUNTS, FORUM_ACTIVITY, FORUM_POSTS, FORUM_REPORTS
from services.forum import events
from services.forum import queries as q

REACTION_KINDS = ("support", "hug", "strength", "same_here")
REPORT_REASONS = ("harassment", "hate", "sourcing", "privacy", "self_harm", "spam", "misinformation", "other")


class ForumStore:
    def __init__(self, pool: asyncpg.Pool, *, refresh_ttl: timedelta, hasher: PasswordHasher | None = None) -> None:
        self._pool = pool
        self._refresh_ttl = refresh_ttl
        self._hasher = hasher or PasswordHasher()
        # Verifying against this when the handle is unknown keeps login time the same
        # whether or not an account exists (no account enumeration by timing).
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    # --- accounts -----------------------------------------------------------

    async def create_user(self, handle: str, password: str, role: str = "member", email: str | None = None) -> dict:
        _check_role(role)
        password_hash = await asyncio.get_running_loop().run_in_executor(None, self._hasher.hash, password)
        async with transaction(self._pool) as conn:
            row = await q.fetch_one(conn, q.INSERT_USER, uuid.uuid4(), handle, password_hash, role, email)
        if row is None:
            raise Conflict("that handle is taken", field="handle")
        return public_user(row)

    async def login(self, handle: str, password: str) -> dict:
        async with connection(self._pool) as conn:
            row = await q.fetch_one(conn, q.USER_BY_HANDLE, handle)
        stored = row["password_hash"] if row and row["deleted_at"] is None else self._dummy_hash
        if not await self._verify(stored, password) or row is None or row["deleted_at"] is not None:
            raise Unauthorized("wrong handle or password")
        # A suspended account may still sign in: its tokens only read (services/common/http/auth.py).
        if self._hasher.check_needs_rehash(stored):
            new_hash = await asyncio.get_running_loop().run_in_executor(None, self._hasher.hash, password)
            async with transaction(self._pool) as conn:
                await conn.execute(q.UPDATE_PASSWORD_HASH, row["id"], new_hash)
        return public_user(row)

    async def _verify(self, stored: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.get_running_loop().run_in_executor(None, check)

    async def start_session(self, user_id: str) -> tuple[str, str]:
        """A new session (refresh-token family) and its first refresh token: ``(sid, refresh_token)``."""
        sid, token = uuid.uuid4(), secrets.token_urlsafe(32)
        expires = datetime.now(timezone.utc) + self._refresh_ttl
        async with transaction(self._pool) as conn:
            await conn.execute(q.INSERT_SESSION, sid, uuid.UUID(user_id))
            await conn.execute(q.INSERT_REFRESH_IN_FAMILY, _digest(token), uuid.UUID(user_id), expires, sid)
        return str(sid), token

    async def use_refresh_token(self, token: str, trace_id: str = "") -> tuple[dict, str, str]:
        """Rotate a refresh token (it works once): ``(user, sid, new refresh token)`` in the same session.

        A token presented again after its rotation is a replay (stolen, or the victim after the thief):
        its whole family ends, the newest token and the family's access tokens included (OAuth 2.0
        Security BCP), and the answer is the same 401 as for any unusable token.
        """
        digest, at = _digest(token), datetime.now(timezone.utc)
        new_token, replayed = secrets.token_urlsafe(32), None
        async with transaction(self._pool) as conn:
            consumed = await q.fetch_one(conn, q.CONSUME_REFRESH, digest)
            if consumed is None:
                replayed = await q.fetch_one(conn, q.REPLAYED_FAMILY, digest)
                if replayed is not None:
                    await self._end_sessions(conn, str(replayed["user_id"]), [replayed["family_id"]], at,
                                             "refresh_reuse", trace_id)
                row = None
            else:
                row = await q.fetch_one(conn, q.USER_BY_ID, consumed["user_id"])
                if row is not None and row["deleted_at"] is None:
                    sid = consumed["family_id"]
                    if sid is None:  # a token minted before sessions existed starts one now
                        sid = uuid.uuid4()
                        await conn.execute(q.INSERT_SESSION, sid, row["id"])
                    elif await conn.fetchval(q.SESSION_IS_LIVE, sid, row["id"]) is None:
                        row = None  # cannot happen (ending a session revokes its tokens); refuse anyway
                    if row is not None:
                        await conn.execute(q.INSERT_REFRESH_IN_FAMILY, _digest(new_token), row["id"],
                                           at + self._refresh_ttl, sid)
        if row is None or row["deleted_at"] is not None:
            raise Unauthorized("invalid or expired refresh token")
        # A suspended account may still refresh: its tokens only read (services/common/http/auth.py).
        return public_user(row), str(sid), new_token

    async def end_session(self, principal: Principal | None, refresh_token: str | None,
                          trace_id: str = "") -> list[str]:
        """Logout: end the session of ``principal``'s token and/or the one ``refresh_token`` belongs to.

        Returns the session ids ended now (none when they had ended already: logging out twice is harmless).
        """
        at, ended = datetime.now(timezone.utc), []
        async with transaction(self._pool) as conn:
            families: dict[uuid.UUID, uuid.UUID] = {}
            if principal is not None and principal.sid is not None:
                families[uuid.UUID(principal.sid)] = uuid.UUID(principal.user_id)
            if refresh_token is not None:
                family = await q.fetch_one(conn, q.FAMILY_OF_TOKEN, _digest(refresh_token))
                if family is not None:
                    families[family["family_id"]] = family["user_id"]
                else:  # a token from before sessions existed: it alone dies
                    await conn.execute(q.REVOKE_REFRESH_TOKEN, _digest(refresh_token))
            for sid, user_id in families.items():
                if await self._end_sessions(conn, str(user_id), [sid], at, "logout", trace_id):
                    ended.append(str(sid))
        return ended

    async def end_all_sessions(self, principal: Principal, trace_id: str = "") -> tuple[list[str], datetime]:
        """Sign out everywhere: every session of the account ends, and tokens without a session id
        issued before now are refused. Returns the session ids and the "not before" time."""
        at, user_id = datetime.now(timezone.utc), uuid.UUID(principal.user_id)
        async with transaction(self._pool) as conn:
            sids = [r["id"] for r in await conn.fetch(q.REVOKE_SESSIONS_OF_USER, user_id, "logout_all")]
            if principal.sid is not None and uuid.UUID(principal.sid) not in sids:
                sids.append(uuid.UUID(principal.sid))
            await conn.execute(q.REVOKE_REFRESH_OF_USER, user_id)
            await record_revoked(conn, user_id, sids, at, not_before=at)
            await outbox.enqueue(conn, FORUM_ACCOUNTS, events.session_revoked(
                principal.user_id, [str(s) for s in sids], at, "logout_all", everywhere=True, trace_id=trace_id))
        return [str(s) for s in sids], at

    async def _end_sessions(self, conn: asyncpg.Connection, user_id: str, sids: list[uuid.UUID], at: datetime,
                            reason: str, trace_id: str) -> list[uuid.UUID]:
        """End live sessions (their refresh tokens, and their access tokens everywhere), in ``conn``'s transaction."""
        ended = []
        for sid in sids:
            if await conn.fetchval(q.REVOKE_SESSION, sid, uuid.UUID(user_id), reason) is not None:
                await conn.execute(q.REVOKE_REFRESH_OF_FAMILY, sid)
                ended.append(sid)
        if ended:
            await record_revoked(conn, user_id, ended, at)
            await outbox.enqueue(conn, FORUM_ACCOUNTS, events.session_revoked(
                user_id, [str(s) for s in ended], at, reason, everywhere=False, trace_id=trace_id))
        return ended

    async def change_role(self, admin: Principal, user_id: str, role: str, trace_id: str = "") -> tuple[dict, bool]:
        """An admin sets an account's role: ``(user, changed)``. Tokens with the old role stop working
        everywhere (``role.changed`` on forum.accounts); the forum is never left without an admin."""
        _check_role(role)
        at = datetime.now(timezone.utc)
        async with transaction(self._pool) as conn:
            await conn.execute(q.LOCK_ROLES)
            user = await q.fetch_one(conn, q.USER_FOR_ROLE_CHANGE, uuid.UUID(user_id))
            if user is None or user["deleted_at"] is not None:
                raise NotFound("no such user")
            if user["role"] == role:
                return public_user(user), False
            if user["role"] == "admin" and await conn.fetchval(q.COUNT_ADMINS) <= 1:
                raise Conflict("the forum must keep at least one admin: promote another admin first", field="role")
            row = await q.fetch_one(conn, q.SET_ROLE, user["id"], role)
            await record_role(conn, user["id"], role, at)
            await outbox.enqueue(conn, FORUM_ACCOUNTS, events.role_changed(
                user_id, role, user["role"], admin.user_id, at, trace_id))
        return public_user(row), True

    # --- communities and threads -------------------------------------------------

    async def create_community(self, slug: str, name: str, description: str = "") -> dict:
        async with transaction(self._pool) as conn:
            row = await q.fetch_one(conn, q.INSERT_COMMUNITY, uuid.uuid4(), slug, name, description)
        if row is None:
            raise Conflict("a community with that slug exists", field="slug")
        return row

    async def ensure_community(self, slug: str, name: str, description: str = "") -> dict:
        async with transaction(self._pool) as conn:
            await q.fetch_one(conn, q.INSERT_COMMUNITY, uuid.uuid4(), slug, name, description)
            row = await q.fetch_one(conn, q.COMMUNITY_BY_SLUG, slug)
        assert row is not None
        return row

    async def list_communities(self) -> list[dict]:
        async with connection(self._pool) as conn:
            return await q.fetch_all(conn, q.LIST_COMMUNITIES)

    async def list_threads(self, viewer: Principal, slug: str, limit: int = 50) -> list[dict]:
        async with connection(self._pool) as conn:
            if await q.fetch_one(conn, q.COMMUNITY_BY_SLUG, slug) is None:
                raise NotFound("no such community", field="slug")
            return await q.fetch_all(conn, q.LIST_THREADS, slug, uuid.UUID(viewer.user_id), limit)

    async def create_thread(self, author: Principal, slug: str, title: str, body: str, trace_id: str) -> tuple[dict, dict]:
        async with transaction(self._pool) as conn:
            await self._require_can_write(conn, author)
            community = await q.fetch_one(conn, q.COMMUNITY_BY_SLUG, slug)
            if community is None:
                raise NotFound("no such community", field="slug")
            thread = await q.fetch_one(conn, q.INSERT_THREAD, uuid.uuid4(), community["id"],
                                       uuid.UUID(author.user_id), title)
            assert thread is not None
            thread["community"] = slug
            post = await self._insert_post(conn, thread, author, body, True, trace_id)
        return thread, post

    async def get_thread(self, viewer: Principal, thread_id: str, limit: int = 500) -> tuple[dict, list[dict]]:
        async with connection(self._pool) as conn:
            thread = await q.fetch_one(conn, q.THREAD_BY_ID, uuid.UUID(thread_id))
            if thread is None:
                raise NotFound("no such thread")
            posts = await q.fetch_all(conn, q.POSTS_IN_THREAD, thread["id"], uuid.UUID(viewer.user_id),
                                      viewer.role in STAFF_ROLES, limit)
        if not any(p["is_opening"] for p in posts):
            raise NotFound("no such thread")  # its opening post is not visible to this viewer
        return thread, posts

    # --- posts ----------------------------------------------------------------

    async def add_reply(self, author: Principal, thread_id: str, body: str, trace_id: str) -> dict:
        async with transaction(self._pool) as conn:
            await self._require_can_write(conn, author)
            thread = await q.fetch_one(conn, q.THREAD_BY_ID, uuid.UUID(thread_id))
            opening = await q.fetch_one(conn, q.OPENING_POST, thread["id"]) if thread else None
            if thread is None or opening is None or not can_see(author, opening):
                raise NotFound("no such thread")
            return await self._insert_post(conn, thread, author, body, False, trace_id)

    async def _insert_post(self, conn, thread: dict, author: Principal, body: str, opening: bool, trace_id: str) -> dict:
        post = await q.fetch_one(conn, q.INSERT_POST_WITH_REVISION, uuid.uuid4(), thread["id"],
                                 uuid.UUID(author.user_id), opening, body)
        assert post is not None
        await outbox.enqueue(conn, FORUM_POSTS, events.post_created(post, thread, trace_id))
        return post

    async def get_post(self, viewer: Principal, post_id: str) -> dict:
        async with connection(self._pool) as conn:
            post = await q.fetch_one(conn, q.POST_BY_ID, uuid.UUID(post_id))
        if post is None or not can_see(viewer, post):
            raise NotFound("no such post")
        return post

    async def edit_post(self, editor: Principal, post_id: str, body: str, trace_id: str) -> dict:
        async with transaction(self._pool) as conn:
            post = await self._own_post_for_update(conn, editor, post_id, "only the author can edit a post")
            if post["status"] == "removed":
                raise Conflict("a removed post cannot be edited")
            version = await conn.fetchval(q.EDIT_POST, post["id"], body)
            await conn.execute(q.INSERT_REVISION, post["id"], version, body)
            post = await q.fetch_one(conn, q.POST_BY_ID, post["id"])
            thread = await q.fetch_one(conn, q.THREAD_BY_ID, post["thread_id"])
            await outbox.enqueue(conn, FORUM_POSTS, events.post_edited(post, thread, trace_id))
        return post

    async def report_post(self, reporter: Principal, post_id: str, reason: str, note: str | None,
                          trace_id: str) -> tuple[dict, bool]:
        """File a report; returns (report, created). A second report by one account counts once."""
        if reason not in REPORT_REASONS:
            raise ValidationError(f"reason must be one of {', '.join(REPORT_REASONS)}", field="reason")
        async with transaction(self._pool) as conn:
            reporter_row = await self._require_can_write(conn, reporter)
            post = await q.fetch_one(conn, q.POST_BY_ID, uuid.UUID(post_id))
            if post is None or not can_see(reporter, post):
                raise NotFound("no such post")
            if str(post["author_id"]) == reporter.user_id:
                raise ValidationError("you cannot report your own post")
            report = await q.fetch_one(conn, q.INSERT_REPORT, uuid.uuid4(), post["id"], uuid.UUID(reporter.user_id),
                                       reason, note, post["version"], post["body"])
            if report is None:
                existing = await q.fetch_one(conn, q.REPORT_BY_REPORTER, post["id"], uuid.UUID(reporter.user_id))
                if existing is None:  # the conflicting report vanished between the two statements
                    raise Conflict("report could not be recorded; try again")
                return existing, False
            await outbox.enqueue(conn, FORUM_REPORTS, events.report_created(
                report, post, reporter.user_id, reporter_row["created_at"], trace_id))
        return report, True

    async def _own_post_for_update(self, conn, principal: Principal, post_id: str, not_yours: str) -> dict:
        """The caller's own post, locked: 404 if they cannot see it, 403 if it is someone else's."""
        await self._require_can_write(conn, principal)
        post = await q.fetch_one(conn, q.POST_BY_ID_FOR_UPDATE, uuid.UUID(post_id))
        if post is None or not can_see(principal, post):
            raise NotFound("no such post")
        if str(post["author_id"]) != principal.user_id:
            raise Forbidden(not_yours)
        return post

    async def _require_can_write(self, conn, principal: Principal) -> dict:
        """Suspension and deletion take effect on writes at once, not at token expiry."""
        user = await q.fetch_one(conn, q.USER_BY_ID, uuid.UUID(principal.user_id))
        if user is None or user["deleted_at"] is not None:
            raise Unauthorized("account no longer exists")
        _refuse_if_suspended(user)
        return user

    async def react(self, member: Principal, post_id: str, kind: str, trace_id: str) -> tuple[dict, bool]:
        """Add a support reaction (once per kind per member); returns (counts, created)."""
        if kind not in REACTION_KINDS:
            raise ValidationError(f"kind must be one of {', '.join(REACTION_KINDS)}", field="kind")
        async with transaction(self._pool) as conn:
            await self._require_can_write(conn, member)
            post = await q.fetch_one(conn, q.POST_BY_ID, uuid.UUID(post_id))
            if post is None or not can_see(member, post) or post["status"] != "published":
                raise NotFound("no such post")
            created = await conn.fetchval(q.INSERT_REACTION, post["id"], uuid.UUID(member.user_id), kind)
            if created is not None and str(post["author_id"]) != member.user_id:
                await outbox.enqueue(conn, FORUM_ACTIVITY, events.reaction_added(post, member.user_id, kind, trace_id))
            counts = {r["kind"]: r["n"] for r in await conn.fetch(q.REACTION_COUNTS, post["id"])}
        return counts, created is not None

    async def appeal(self, author: Principal, post_id: str, note: str | None, trace_id: str) -> dict:
        """The author contests a removal, once per removed version."""
        async with transaction(self._pool) as conn:
            post = await self._own_post_for_update(conn, author, post_id, "only the author can appeal a removal")
            if post["status"] != "removed":
                raise Conflict("only a removed post can be appealed")
            appeal = await q.fetch_one(conn, q.INSERT_APPEAL, uuid.uuid4(), post["id"], post["version"],
                                       uuid.UUID(author.user_id), note)
            if appeal is None:
                raise Conflict("this removal has already been appealed")
            await outbox.enqueue(conn, FORUM_REPORTS, events.appeal_created(appeal, author.user_id, trace_id))
        return appeal

    # --- the safety net (sweeper.py) ---------------------------------------------

    async def sweep_pending(self, older_than_seconds: float, limit: int = 100) -> int:
        """Re-emit the event of posts pending too long; consumers are idempotent, so this is safe."""
        async with transaction(self._pool) as conn:
            rows = await q.fetch_all(conn, q.CLAIM_STALE_PENDING, older_than_seconds, limit)
            for row in rows:
                emitted = events.post_created if row["version"] == 1 else events.post_edited
                thread = {"id": row["thread_id"], "community": row["community"], "title": row["title"]}
                await outbox.enqueue(conn, FORUM_POSTS, emitted(row, thread, ""))
                await conn.execute(q.TOUCH_EMITTED, row["id"])
        return len(rows)


def can_see(viewer: Principal, post: dict) -> bool:
    """Others see published posts only; staff also read held and pending ones (moderators review them,
    crisis staff read the post behind an escalation)."""
    if post["status"] == "deleted":
        return False
    return post["status"] == "published" or str(post["author_id"]) == viewer.user_id or viewer.role in STAFF_ROLES


def visible_reasons(viewer: Principal, post: dict) -> list:
    """Why a post was held or removed: full detail for staff, reason codes for its author, nothing for others.

    Crisis assessments are private: other members never see them, and the author
    sees the support message (a notification), not a label on their post.
    """
    if viewer.role in STAFF_ROLES:
        return post["status_reasons"]
    if str(post["author_id"]) == viewer.user_id:
        return sorted({r["code"] for r in post["status_reasons"] if r.get("code") and not r.get("private")})
    return []


def _refuse_if_suspended(row: dict) -> None:
    """No write while an account is suspended (it may still sign in, refresh and read: the 403 says until when)."""
    until = row["suspended_until"]
    if until is not None and until > datetime.now(timezone.utc):
        raise AccountSuspended(until)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")


def public_user(row: dict) -> dict:
    return {"id": str(row["id"]), "handle": row["handle"], "role": row["role"],
            "created_at": row["created_at"].isoformat()}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
