"""Who is calling: the verified token, its live session and role, and the suspension that makes it read-only."""

from __future__ import annotations

from aiohttp import web

from services.common.errors import AccountSuspended, Forbidden, Unauthorized
from services.common.http.appkeys import SESSIONS, SUSPENSIONS, VERIFIER
from services.common.tokens import Principal

READ_METHODS = frozenset({"GET", "HEAD"})


def authenticate(request: web.Request, *roles: str, allow_suspended: bool = False) -> Principal:
    """The verified caller; with ``roles``, one of them is required (403 otherwise).

    A token whose session has ended (logout, sign-out everywhere, a reused refresh token) or whose
    role is no longer the account's is a 401 (services/common/sessions.py). A suspended account is
    read-only: it may read (GET) what needs no role, and end its own sessions
    (``allow_suspended``); anything else is a 403 until the suspension ends. Memory lookups only.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    principal = request.app[VERIFIER].verify(token.strip())
    ended = request.app[SESSIONS].refuses(principal)
    if ended is not None:
        raise Unauthorized(ended)
    # Revocation on suspension: the token is valid, the account may only read (services/common/suspensions.py).
    suspended_until = request.app[SUSPENSIONS].until(principal.user_id)
    if suspended_until is not None and not allow_suspended and (roles or request.method not in READ_METHODS):
        raise AccountSuspended(suspended_until)
    if roles and principal.role not in roles:
        raise Forbidden("your role cannot do this")
    return principal

