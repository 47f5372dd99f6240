"""Every queue, action, escalation, appeal and audit endpoint, with every role and with none.

Each role gets exactly what it should: 401 without a token, 403 for a role
that may not, and anything but 401/403 for a role that may.
"""

from __future__ import annotations

import pytest

from tests.support.stack import Stack
from tests.support.waiting import eventually

ROLES = ("member", "moderator", "crisis_staff", "admin")
MODERATORS = {"moderator", "admin"}
CRISIS = {"crisis_staff", "admin"}

# (service, method, path template, body, roles allowed)
MATRIX = [
    ("moderation", "GET", "/v1/queue", None, MODERATORS),
    ("moderation", "GET", "/v1/queue/{item}", None, MODERATORS),
    ("moderation", "POST", "/v1/queue/{item}/claim", None, MODERATORS),
    ("moderation", "POST", "/v1/queue/{item}/actions", {"action": "note", "message": "checked"}, MODERATORS),
    ("moderation", "GET", "/v1/audit", None, {"admin"}),
    ("moderation", "GET", "/v1/escalations", None, CRISIS),
    ("moderation", "GET", "/v1/escalations/{escalation}", None, CRISIS),
    ("moderation", "POST", "/v1/escalations/{escalation}/acknowledge", None, CRISIS),
    ("moderation", "POST", "/v1/escalations/{escalation}/notes", {"note": "n"}, CRISIS),
    ("moderation", "POST", "/v1/escalations/{escalation}/outreach", {"message": "m"}, CRISIS),
    ("moderation", "POST", "/v1/escalations/{escalation}/resolve", {"outcome": "false_alarm"}, CRISIS),
    ("forum", "POST", "/v1/posts/{post}/appeal", {"note": "please"}, {"author"}),
    ("notifications", "GET", "/v1/notifications", None, {"member", "moderator", "crisis_staff", "admin", "author"}),
]


@pytest.fixture
async def setting(stack: Stack):
    author = await stack.register()
    users = {role: await stack.staff(role) for role in ROLES if role != "member"}
    users["member"] = await stack.register()
    users["author"] = author
    crisis = await stack.start_thread(author, "I have the pills ready and I'm taking all of them tonight")
    post_id = crisis["post"]["id"]
    moderator = users["moderator"]

    async def ids():
        queue = (await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json())["items"]
        feed = (await (await stack.moderation.get("/v1/escalations", headers=users["crisis_staff"].auth)).json())
        if queue and feed["items"]:
            return queue[0]["id"], feed["items"][0]["id"]
        return None

    item, escalation = await eventually(ids, what="a queue item and an escalation")
    # The author can appeal only a removed post: remove it first.
    response = await stack.moderation.post(f"/v1/queue/{item}/actions", headers=moderator.auth,
                                           json={"action": "remove", "reason": "graphic_method_detail"})
    assert response.status == 200
    await eventually(lambda: stack.has_status(author, post_id, "removed"), what="removed")
    return users, {"item": item, "escalation": escalation, "post": post_id}


@pytest.mark.parametrize(("service", "method", "template", "body", "allowed"), MATRIX,
                         ids=[f"{m} {t}" for _, m, t, _, _ in MATRIX])
async def test_each_role_gets_exactly_what_it_should(stack: Stack, setting, service, method, template, body,
                                                     allowed) -> None:
    users, ids = setting
    client = getattr(stack, service)
    path = template.format(**ids)
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status == 401, f"{method} {path} without a token"
    for who, user in users.items():
        response = await client.request(method, path, json=body, headers=user.auth)
        if who in allowed:
            assert response.status not in (401, 403), f"{who} must be allowed {method} {template}"
        elif service == "forum":
            # A member who cannot see the removed post gets 404 (nothing to reveal); staff who can get 403.
            assert response.status == (404 if who == "member" else 403), f"{who}: {response.status}"
        else:
            assert response.status == 403, f"{who} must be refused {method} {template}: {response.status}"


PARAMS = {"item_id": "item", "escalation_id": "escalation", "post_id": "post"}


async def test_every_moderation_route_is_in_the_matrix(stack: Stack) -> None:
    """A new moderation endpoint without an entry above fails: authorisation is decided, not forgotten."""
    routed = set()
    for route in stack.moderation_app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method == "HEAD" or not path.startswith("/v1/"):
            continue
        for name, short in PARAMS.items():
            path = path.replace("{" + name + "}", "{" + short + "}")
        routed.add((route.method, path))
    in_matrix = {(method, template) for service, method, template, _, _ in MATRIX if service == "moderation"}
    assert routed == in_matrix
