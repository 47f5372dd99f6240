"""Session revocation in memory (services/common/sessions.py) and what ``authenticate`` does with it.

No database here: the in-memory state is filled the way ``Sessions.refresh`` fills it, and
``authenticate`` is called on a bare app (no query per request: every check is a lookup).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.errors import AccountSuspended, Forbidden, Unauthorized
from services.common.http.app import new_app
from services.common.http.appkeys import SESSIONS, SUSPENSIONS
from services.common.http.auth import authenticate
from services.common.sessions import Sessions
from services.common.tokens import Principal, TokenSigner, TokenVerifier

KEY = Ed25519PrivateKey.generate()
SIGNER = TokenSigner(KEY, ttl_seconds=300)
ALICE = Principal(user_id=str(uuid.uuid4()), handle="alice", role="member")


def app():
    return new_app(service="test", openapi=Path("openapi.yaml"), verifier=TokenVerifier(KEY.public_key()))


def call(application, token: str, method: str = "GET", *roles: str, **kwargs) -> Principal:
    request = make_mocked_request(method, "/v1/x", headers={"Authorization": f"Bearer {token}"}, app=application)
    return authenticate(request, *roles, **kwargs)


def test_tokens_carry_their_session_and_times() -> None:
    sid = str(uuid.uuid4())
    token = SIGNER.issue(ALICE, sid=sid)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sid"] == sid
    principal = TokenVerifier(KEY.public_key()).verify(token)
    assert principal == ALICE and principal.sid == sid
    assert principal.issued_at == claims["iat"] and principal.expires_at == claims["exp"]


def test_a_revoked_session_is_refused_and_others_are_not() -> None:
    application = app()
    sid, other = str(uuid.uuid4()), str(uuid.uuid4())
    revoked, alive = SIGNER.issue(ALICE, sid=sid), SIGNER.issue(ALICE, sid=other)
    assert call(application, revoked).sid == sid
    application[SESSIONS].load(revoked_sids=[sid], roles={}, not_before={})
    with pytest.raises(Unauthorized, match="session has ended"):
        call(application, revoked)
    assert call(application, alive).sid == other


def test_a_token_from_before_sign_out_everywhere_is_refused() -> None:
    application = app()
    legacy = SIGNER.issue(ALICE)  # no sid: minted before sessions existed
    application[SESSIONS].load(revoked_sids=[], roles={},
                               not_before={ALICE.user_id: datetime.now(timezone.utc) + timedelta(seconds=5)})
    with pytest.raises(Unauthorized, match="session has ended"):
        call(application, legacy)


def test_a_token_with_an_outdated_role_is_refused_until_refreshed() -> None:
    application = app()
    moderator = Principal(ALICE.user_id, "alice", "moderator")
    token = SIGNER.issue(moderator, sid=str(uuid.uuid4()))
    application[SESSIONS].load(revoked_sids=[], roles={ALICE.user_id: "member"}, not_before={})
    with pytest.raises(Unauthorized, match="role has changed"):
        call(application, token)
    fresh = SIGNER.issue(ALICE, sid=str(uuid.uuid4()))
    assert call(application, fresh).role == "member"


def test_a_suspended_account_may_read_but_not_write() -> None:
    application = app()
    token = SIGNER.issue(ALICE, sid=str(uuid.uuid4()))
    application[SUSPENSIONS]._until = {ALICE.user_id: datetime.now(timezone.utc) + timedelta(hours=1)}
    assert call(application, token, "GET").user_id == ALICE.user_id
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        with pytest.raises(AccountSuspended):
            call(application, token, method)
    # A read that needs a role stays closed (a suspended moderator does not work the queue).
    staff = SIGNER.issue(Principal(ALICE.user_id, "alice", "moderator"), sid=str(uuid.uuid4()))
    with pytest.raises(AccountSuspended):
        call(application, staff, "GET", "moderator")
    # Ending one's own sessions is allowed while suspended.
    assert call(application, token, "POST", allow_suspended=True).user_id == ALICE.user_id


def test_role_is_still_checked_after_the_session() -> None:
    application = app()
    with pytest.raises(Forbidden):
        call(application, SIGNER.issue(ALICE, sid=str(uuid.uuid4())), "GET", "admin")


def test_revocations_older_than_any_access_token_are_not_needed() -> None:
    sessions = Sessions()
    assert sessions.WINDOW_SECONDS >= 3600, "covers the longest ACCESS_TOKEN_TTL_SECONDS"
    assert not sessions.refuses(ALICE, now=time.time())
