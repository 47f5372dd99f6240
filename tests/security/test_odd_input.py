"""Odd input never makes a 5xx (a huge cursor may simply find nothing: 200): NUL characters, lone surrogates, huge numbers, deep nesting.

schemathesis generates well-formed Unicode; these are the inputs it does not
(found while fuzzing by hand, each a 500 before the fix): a ``\\u0000`` or a lone
surrogate (``\\ud800``) in JSON reached asyncpg, which cannot encode it; a NUL in
a path or query parameter did the same. ``services.common.http`` now refuses
them (400, or 404 for a path that names nothing), and turns any PostgreSQL
data exception that still gets through into a 400.
"""

from __future__ import annotations

import pytest

from tests.support.stack import Stack

pytestmark = pytest.mark.integration

NESTED = b'{"body": ' + b"[" * 5000 + b"]" * 5000 + b"}"
SURROGATE, NUL = "\\ud800", "\\u0000"

# (service, method, path, raw body, caller)
CASES = [
    ("forum", "GET", "/v1/communities/%00/threads", None, "member"),
    ("forum", "POST", "/v1/communities/a%00b/threads", '{"title": "t", "body": "b"}', "member"),
    ("forum", "POST", "/v1/communities/general/threads", f'{{"title": "t{SURROGATE}", "body": "b"}}', "member"),
    ("forum", "POST", "/v1/communities/general/threads", f'{{"title": "t", "body": "b{SURROGATE} x"}}', "member"),
    ("forum", "POST", "/v1/communities/general/threads", NESTED, "member"),
    ("forum", "POST", "/v1/auth/register", f'{{"handle": "abcdef", "password": "0123456789{SURROGATE}"}}', None),
    ("forum", "POST", "/v1/auth/register",
     f'{{"handle": "abcdeg", "password": "0123456789a", "email": "a@{SURROGATE}"}}', None),
    ("forum", "POST", "/v1/auth/login", f'{{"handle": "abc{SURROGATE}", "password": "0123456789ab"}}', None),
    ("forum", "POST", "/v1/auth/login", f'{{"handle": "abcd", "password": "0123456789{SURROGATE}"}}', None),
    ("forum", "POST", "/v1/auth/refresh", f'{{"refresh_token": "{SURROGATE}"}}', None),
    ("forum", "POST", "/v1/auth/refresh", f'{{"refresh_token": "a{NUL}b"}}', None),
    ("forum", "POST", "/v1/communities", f'{{"slug": "ab", "name": "x{SURROGATE}"}}', "admin"),
    ("forum", "POST", "/v1/posts/{post}/reports", f'{{"reason": "spam", "note": "{SURROGATE}"}}', "admin"),
    ("forum", "PATCH", "/v1/posts/{post}", f'{{"body": "{SURROGATE}"}}', "member"),
    ("forum", "PATCH", "/v1/posts/{post}", '{"body": 1e999}', "member"),
    ("moderation", "GET", "/v1/queue?community=%00", None, "admin"),
    ("moderation", "GET", "/v1/queue?limit=99999999999999999999999", None, "admin"),
    ("moderation", "GET", "/v1/audit?before=99999999999999999999", None, "admin"),
    ("moderation", "POST", "/v1/queue/{item}/actions",
     '{"action": "suspend", "duration_hours": 1e400, "reason": "abuse"}', "admin"),
    ("moderation", "POST", "/v1/queue/{item}/actions", f'{{"action": "note", "message": "{SURROGATE}"}}', "admin"),
    ("notifications", "GET", "/v1/notifications?before=999999999999999999999", None, "member"),
    ("notifications", "PUT", "/v1/preferences", f'{{"email": "a@b{SURROGATE}"}}', "member"),
    ("notifications", "PUT", "/v1/rota/{user}", '{"tier": 99999999999999999999999, "on_rota": true}', "admin"),
    ("notifications", "POST", "/v1/webhooks", f'{{"url": "http://x{SURROGATE}", "role": "admin"}}', "admin"),
    ("notifications", "POST", "/v1/webhooks", f'{{"url": "http://x{NUL}y", "role": "admin"}}', "admin"),
]


async def test_odd_input_is_a_4xx_never_a_5xx(secure_stack: Stack) -> None:
    stack = secure_stack
    users = {"member": await stack.register(), "admin": await stack.staff("admin"), None: None}
    opened = await stack.start_thread(users["member"], "A quiet week, one day at a time.")
    ids = {"post": opened["post"]["id"], "item": "00000000-0000-4000-8000-000000000000",
           "user": users["admin"].id}
    wrong = []
    for service, method, path, body, caller in CASES:
        user = users[caller]
        data = body.encode() if isinstance(body, str) else body
        response = await getattr(stack, service).request(
            method, path.format(**ids), data=data, headers={**(user.auth if user else {}),
                                                            "Content-Type": "application/json"})
        if response.status >= 500:
            wrong.append(f"{response.status} {method} {path} {str(body)[:60]}")
        elif response.status >= 400 and response.status != 404:
            assert (await response.json())["error"]["code"] in ("invalid", "too_long", "not_found", "unauthorized")
    assert not wrong, "odd input answered with a 5xx:\n" + "\n".join(wrong)
