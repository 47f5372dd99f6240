"""The authorisation matrix, generated from the three OpenAPI documents.

Every operation of every document is called by every kind of caller:
anonymous, a member (the author of the posts used), another member, a
moderator, crisis staff, an admin, a suspended member and an expired token.
``EXPECTED`` says what each must get; an operation in a document (or a route in
an app) without an entry fails ``test_every_operation_has_an_entry``, so
authorisation is decided when an endpoint is added, never forgotten.

Outcomes: ``OK`` is "let through" (any status but 401/403, never a 5xx: the
body may still be refused, a claim may conflict), ``U`` is 401, ``F`` 403 and
``NF`` 404 (the caller may not even learn that the thing exists).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.tokens import Principal, TokenSigner
from tests.support.stack import Stack, User
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("forum", "moderation", "notifications")
METHODS = ("get", "post", "put", "patch", "delete")
CALLERS = ("anonymous", "member", "other_member", "moderator", "crisis_staff", "admin", "suspended", "expired")
OK, U, F, NF = "ok", 401, 403, 404


def row(**overrides: Any) -> dict[str, Any]:
    """Signed-in callers let through, anonymous and expired refused (401), a suspended member refused (403).

    A suspended account is read-only: use :func:`read` for GETs that need no role.
    """
    expected = {"anonymous": U, "member": OK, "other_member": OK, "moderator": OK, "crisis_staff": OK,
                "admin": OK, "suspended": F, "expired": U}
    expected.update(overrides)
    return expected


def read(**overrides: Any) -> dict[str, Any]:
    """A read that needs no role: a suspended member may still read (issue 24, item 9)."""
    return row(**{"suspended": OK, **overrides})


def only(*roles: str, **overrides: Any) -> dict[str, Any]:
    """Only ``roles`` let through; other signed-in callers 403."""
    members = {"member": "member", "other_member": "member"}
    refused = {c: F for c in ("member", "other_member", "moderator", "crisis_staff", "admin")
               if members.get(c, c) not in roles}
    return row(**refused, **overrides)


PUBLIC = {caller: OK for caller in CALLERS}  # no token needed; a token sent along is not even read
MODERATORS = ("moderator", "admin")
CRISIS = ("crisis_staff", "admin")


@dataclass(frozen=True)
class Entry:
    expect: dict[str, Any]
    body: dict[str, Any] | None = None
    # Which fixture object fills each path parameter (default: the parameter's own name).
    params: dict[str, str] = field(default_factory=dict)


OPERATIONS = {"/healthz", "/readyz", "/metrics", "/openapi.yaml"}
EXPECTED: dict[tuple[str, str, str], Entry] = {
    **{(service, "GET", path): Entry(PUBLIC) for service in SERVICES for path in OPERATIONS},
    # --- forum -----------------------------------------------------------------------------
    ("forum", "POST", "/v1/auth/register"): Entry(PUBLIC, {}),
    ("forum", "POST", "/v1/auth/login"): Entry(PUBLIC, {}),
    ("forum", "POST", "/v1/auth/refresh"): Entry(PUBLIC, {}),
    # Sessions end last (the end of EXPECTED): they end the callers' own sessions.
    ("forum", "PUT", "/v1/accounts/{user_id}/role"): Entry(only("admin"), {"role": "crisis_staff"}),
    ("forum", "GET", "/v1/communities"): Entry(read()),
    ("forum", "POST", "/v1/communities"): Entry(only("admin"), {"name": "Matrix", "slug": "matrix-x"}),
    ("forum", "GET", "/v1/communities/{slug}/threads"): Entry(read()),
    ("forum", "POST", "/v1/communities/{slug}/threads"): Entry(row(), {"title": "t", "body": "one day at a time"}),
    ("forum", "GET", "/v1/threads/{thread_id}"): Entry(read()),
    ("forum", "POST", "/v1/threads/{thread_id}/posts"): Entry(row(), {"body": "hang in there"}),
    # The removed post: its author and staff see it; another member may not learn it exists.
    ("forum", "GET", "/v1/posts/{post_id}"): Entry(read(other_member=NF, suspended=NF)),
    # Only the author edits or appeals (a removed post cannot be edited: the author gets 409).
    ("forum", "PATCH", "/v1/posts/{post_id}"): Entry(
        row(other_member=NF, moderator=F, crisis_staff=F, admin=F), {"body": "edited"}),
    ("forum", "POST", "/v1/posts/{post_id}/appeal"): Entry(
        row(other_member=NF, moderator=F, crisis_staff=F, admin=F), {"note": "please look again"}),
    # The published post: anyone signed in may report (the author gets 400) and react.
    ("forum", "POST", "/v1/posts/{post_id}/reports"): Entry(row(), {"reason": "spam"},
                                                            {"post_id": "published_post"}),
    ("forum", "POST", "/v1/posts/{post_id}/reactions"): Entry(row(), {"kind": "support"},
                                                              {"post_id": "published_post"}),
    # --- moderation ----------------------------------------------------------------------------
    ("moderation", "GET", "/v1/queue"): Entry(only(*MODERATORS)),
    ("moderation", "GET", "/v1/queue/{item_id}"): Entry(only(*MODERATORS)),
    ("moderation", "POST", "/v1/queue/{item_id}/claim"): Entry(only(*MODERATORS)),
    ("moderation", "POST", "/v1/queue/{item_id}/actions"): Entry(only(*MODERATORS),
                                                                 {"action": "note", "message": "checked"}),
    ("moderation", "GET", "/v1/audit"): Entry(only("admin")),
    # Lifting a suspension: admins only (crisis staff's account, not suspended: the admin gets a 409).
    ("moderation", "POST", "/v1/users/{user_id}/unsuspend"): Entry(only("admin"), {"reason": "lifted"}),
    ("moderation", "GET", "/v1/escalations"): Entry(only(*CRISIS)),
    ("moderation", "GET", "/v1/escalations/{escalation_id}"): Entry(only(*CRISIS)),
    ("moderation", "POST", "/v1/escalations/{escalation_id}/acknowledge"): Entry(only(*CRISIS)),
    ("moderation", "POST", "/v1/escalations/{escalation_id}/notes"): Entry(only(*CRISIS), {"note": "n"}),
    ("moderation", "POST", "/v1/escalations/{escalation_id}/outreach"): Entry(only(*CRISIS), {"message": "m"}),
    ("moderation", "POST", "/v1/escalations/{escalation_id}/resolve"): Entry(only(*CRISIS),
                                                                            {"outcome": "false_alarm"}),
    # --- notifications ---------------------------------------------------------------------------
    ("notifications", "GET", "/v1/notifications"): Entry(read()),
    ("notifications", "GET", "/v1/notifications/unread-count"): Entry(read()),
    ("notifications", "POST", "/v1/notifications/read-all"): Entry(row()),
    # The member's own notification: anyone else is told it does not exist.
    ("notifications", "POST", "/v1/notifications/{notification_id}/read"): Entry(
        row(other_member=NF, moderator=NF, crisis_staff=NF, admin=NF)),
    ("notifications", "GET", "/v1/stream"): Entry(read()),
    ("notifications", "GET", "/v1/preferences"): Entry(read()),
    ("notifications", "PUT", "/v1/preferences"): Entry(row(), {}),
    ("notifications", "GET", "/v1/rota"): Entry(only(*CRISIS)),
    ("notifications", "PUT", "/v1/rota/{user_id}"): Entry(only("admin"), {"tier": 1, "on_rota": True}),
    ("notifications", "GET", "/v1/webhooks"): Entry(only("admin")),
    ("notifications", "POST", "/v1/webhooks"): Entry(only("admin"),
                                                    {"url": "http://127.0.0.1:9/hook", "role": "admin"}),
    ("notifications", "GET", "/v1/webhooks/{webhook_id}/deliveries"): Entry(only("admin")),
    # --- ending sessions: last, since they end the callers' own sessions -------------------------
    # Any signed-in caller, suspended too. Each caller's sessions end here, so the logout after it
    # proves the session with a refresh token in the body (accepted with or without a usable token;
    # an unknown one ends nothing and says so no more than a 204).
    ("forum", "POST", "/v1/auth/logout-all"): Entry(row(suspended=OK)),
    ("forum", "POST", "/v1/auth/logout"): Entry(PUBLIC, {"refresh_token": "not-a-live-refresh-token"}),
}


def documented_operations() -> set[tuple[str, str, str]]:
    found = set()
    for service in SERVICES:
        document = yaml.safe_load((ROOT / "services" / service / "openapi.yaml").read_text(encoding="utf-8"))
        for path, item in document["paths"].items():
            found |= {(service, method.upper(), path) for method in item if method in METHODS}
    return found


def routed_operations(stack: Stack) -> set[tuple[str, str, str]]:
    found = set()
    for service in SERVICES:
        for route in getattr(stack, f"{service}_app").router.routes():
            if route.method.lower() in METHODS and route.resource is not None:
                found.add((service, route.method, route.resource.canonical))
    return found


def test_every_operation_has_an_entry() -> None:
    """A new operation in a document without an entry here fails: authorisation is decided, not forgotten."""
    documented = documented_operations()
    assert documented - EXPECTED.keys() == set(), "operations without an entry in EXPECTED"
    assert EXPECTED.keys() - documented == set(), "entries for operations no document has"
    for key, entry in EXPECTED.items():
        assert set(entry.expect) == set(CALLERS), f"{key} must say what every caller gets"


@pytest.fixture
async def world(secure_stack: Stack) -> tuple[dict[str, User | None], dict[str, str]]:
    stack = secure_stack
    member, other = await stack.register(), await stack.register()
    suspended = await stack.register()
    staff = {role: await stack.staff(role) for role in ("moderator", "crisis_staff", "admin")}
    crisis = await stack.start_thread(member, "I have the pills ready and I'm taking all of them tonight")
    published = await stack.start_thread(member, "Day 30 today. Grateful for this place.")
    removed_id, published_id = crisis["post"]["id"], published["post"]["id"]
    await eventually(lambda: stack.has_status(member, published_id, "published"), what="published")

    async def queue_and_escalation():
        queue = await (await stack.moderation.get("/v1/queue", headers=staff["moderator"].auth)).json()
        feed = await (await stack.moderation.get("/v1/escalations", headers=staff["crisis_staff"].auth)).json()
        return (queue["items"][0]["id"], feed["items"][0]["id"]) if queue["items"] and feed["items"] else None

    item, escalation = await eventually(queue_and_escalation, what="a queue item and an escalation")
    response = await stack.moderation.post(f"/v1/queue/{item}/actions", headers=staff["moderator"].auth,
                                           json={"action": "remove", "reason": "graphic_method_detail"})
    assert response.status == 200, await response.text()
    await eventually(lambda: stack.has_status(member, removed_id, "removed"), what="removed")
    notification = (await eventually(lambda: stack.notifications_of(member), what="a notification"))[0]["id"]
    response = await stack.notifications.post("/v1/webhooks", headers=staff["admin"].auth,
                                              json={"url": "http://127.0.0.1:9/hook", "role": "admin"})
    assert response.status == 201, await response.text()
    webhook = (await response.json())["id"]

    # The suspended member: every service has learnt the suspension (tests/security/test_tokens.py
    # follows the real path, a moderator's action over Kafka; here it is written where it lands).
    until = datetime.now(timezone.utc) + timedelta(days=1)
    for schema in SERVICES:
        await stack.db.execute(f"INSERT INTO {schema}.suspensions (user_id, until) VALUES ($1, $2)",
                               uuid.UUID(suspended.id), until)
    await stack.db.execute("UPDATE forum.users SET suspended_until = $2 WHERE id = $1", uuid.UUID(suspended.id), until)

    expired = TokenSigner.from_file(stack.isolation.private_key, ttl_seconds=-120).issue(
        Principal(other.id, other.handle, "member"))
    users: dict[str, User | None] = {
        "anonymous": None, "member": member, "other_member": other, **staff, "suspended": suspended,
        "expired": User(other.id, other.handle, "member", expired),
    }
    ids = {"slug": stack.community, "thread_id": published["thread"]["id"], "post_id": removed_id,
           "published_post": published_id, "item_id": item, "escalation_id": escalation,
           "notification_id": notification, "user_id": staff["crisis_staff"].id, "webhook_id": webhook}

    async def everywhere_suspended() -> bool:
        nothing = uuid.uuid4()  # a suspended account's write is a 403 before the 404 anyone else gets
        responses = [await client.request(method, path, json={}, headers=suspended.auth)
                     for client, method, path in (
                         (stack.forum, "PATCH", f"/v1/posts/{nothing}"),
                         (stack.notifications, "POST", f"/v1/notifications/{nothing}/read"),
                         (stack.moderation, "GET", "/v1/queue"))]
        messages = [(await r.json())["error"]["message"] if r.status == 403 else "" for r in responses]
        return all("suspended" in message for message in messages)

    await eventually(everywhere_suspended, what="every service refuses the suspended member")
    return users, ids


async def test_each_caller_gets_exactly_what_it_should(secure_stack: Stack, world) -> None:
    stack = secure_stack
    users, ids = world
    assert routed_operations(stack) == documented_operations(), "every route is documented, and only those"
    wrong = []
    for (service, method, template), entry in EXPECTED.items():
        client = getattr(stack, service)
        names = {name: ids[entry.params.get(name, name)] for name in ids if "{" + name + "}" in template}
        path = template.format(**names)
        for caller in CALLERS:
            user = users[caller]
            headers = user.auth if user else {}
            response = await client.request(method, path, json=entry.body, headers=headers)
            status = response.status
            response.close()  # the live stream never ends by itself
            expected = entry.expect[caller]
            fine = (status not in (401, 403) and status < 500) if expected == OK else status == expected
            if not fine:
                wrong.append(f"{caller:>12} {method} {template}: got {status}, expected {expected}")
    assert not wrong, "authorisation matrix mismatches:\n" + "\n".join(wrong)
