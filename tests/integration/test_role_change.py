"""A role change takes effect at once in every service (issue 24, item 5).

``PUT /v1/accounts/{user_id}/role`` (admin only) changes the role in forum and announces
``role.changed`` on ``forum.accounts``: tokens carrying the old role are refused (401, the
client refreshes and gets the new role) by every service within seconds, moderation audits
the change, and notifications stops paging and rota-listing a demoted crisis worker.
"""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from tests.support.stack import PASSWORD, Stack, User
from tests.support.waiting import eventually


async def _set_role(stack: Stack, admin: User, user: User | str, role: str):
    user_id = user if isinstance(user, str) else user.id
    return await stack.forum.put(f"/v1/accounts/{user_id}/role", json={"role": role}, headers=admin.auth)


@pytest.mark.integration
async def test_demoting_a_crisis_worker_bites_everywhere_at_once(stack: Stack) -> None:
    admin, worker = await stack.staff("admin"), await stack.staff("crisis_staff")
    login = await stack.forum.post("/v1/auth/login", json={"handle": worker.handle, "password": PASSWORD})
    refresh_token = (await login.json())["refresh_token"]
    # On the rota, with an e-mail for pages.
    assert (await stack.notifications.put("/v1/preferences", headers=worker.auth,
                                          json={"email": "alex@example.org"})).status == 200
    assert (await stack.notifications.put(f"/v1/rota/{worker.id}", headers=admin.auth, json={"tier": 1})).status == 200
    assert (await stack.moderation.get("/v1/escalations", headers=worker.auth)).status == 200

    response = await _set_role(stack, admin, worker, "member")
    assert response.status == 200, await response.text()
    assert (await response.json())["user"]["role"] == "member"
    changed = time.monotonic()

    async def old_token_refused():
        found = [
            (await stack.forum.get("/v1/communities", headers=worker.auth)).status,
            (await stack.moderation.get("/v1/escalations", headers=worker.auth)).status,
            (await stack.notifications.get("/v1/notifications", headers=worker.auth)).status,
        ]
        return found == [401, 401, 401]

    await eventually(old_token_refused, timeout=15, interval=0.1, what="every service refuses the old role's token")
    took = time.monotonic() - changed
    assert took < 5, f"the role change took {took:.1f}s to reach every service"

    # A refresh mints the new role; it can no longer read the crisis feed.
    response = await stack.forum.post("/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert response.status == 200
    token = (await response.json())["token"]
    assert jwt.decode(token, options={"verify_signature": False})["role"] == "member"
    auth = {"Authorization": f"Bearer {token}"}
    assert (await stack.moderation.get("/v1/escalations", headers=auth)).status == 403
    assert (await stack.notifications.get("/v1/notifications", headers=auth)).status == 200

    # Notifications no longer pages or lists them on the rota.
    async def off_the_rota():
        items = (await (await stack.notifications.get("/v1/rota", headers=admin.auth)).json())["items"]
        role = await stack.db.fetchval("SELECT role FROM notifications.preferences WHERE user_id = $1",
                                       uuid.UUID(worker.id))
        return worker.id not in {i["user_id"] for i in items} and role == "member"

    await eventually(off_the_rota, timeout=15, what="the demoted worker off the rota and out of paging")

    # Audited: the admin's audit log has the change, by whom, before and after.
    async def audited():
        entries = (await (await stack.moderation.get("/v1/audit", headers=admin.auth)).json())["items"]
        return next((e for e in entries if e["action"] == "role.change" and e["subject"] == f"user:{worker.id}"), None)

    entry = await eventually(audited, timeout=15, what="the role change in the audit log")
    assert entry["actor_id"] == admin.id and entry["before"] == {"role": "crisis_staff"}
    assert entry["after"] == {"role": "member"}


@pytest.mark.integration
async def test_promotion_takes_effect_after_a_refresh_and_only_admins_change_roles(stack: Stack) -> None:
    admin, member = await stack.staff("admin"), await stack.register()
    assert (await _set_role(stack, member, member, "admin")).status == 403
    moderator = await stack.staff("moderator")
    assert (await _set_role(stack, moderator, member, "moderator")).status == 403
    assert (await _set_role(stack, admin, member, "overlord")).status == 400
    assert (await _set_role(stack, admin, str(uuid.uuid4()), "moderator")).status == 404

    response = await _set_role(stack, admin, member, "moderator")
    assert response.status == 200
    login = await stack.forum.post("/v1/auth/login", json={"handle": member.handle, "password": PASSWORD})
    promoted = {"Authorization": f"Bearer {(await login.json())['token']}"}

    async def queue_open():
        return (await stack.moderation.get("/v1/queue", headers=promoted)).status == 200

    await eventually(queue_open, timeout=15, what="the new moderator reads the queue")
    # Setting the role it already has changes nothing and refuses no token.
    assert (await _set_role(stack, admin, member, "moderator")).status == 200
    assert (await stack.moderation.get("/v1/queue", headers=promoted)).status == 200


@pytest.mark.integration
async def test_the_last_admin_cannot_demote_themselves(stack: Stack) -> None:
    await stack.db.execute("UPDATE forum.users SET role = 'member' WHERE role = 'admin'")
    admin = await stack.staff("admin")
    response = await _set_role(stack, admin, admin, "member")
    assert response.status == 409, await response.text()
    assert "admin" in (await response.json())["error"]["message"]
    other = await stack.staff("admin")
    # With a second admin, one may step down.
    response = await _set_role(stack, admin, admin, "member")
    assert response.status == 200, await response.text()
    assert (await _set_role(stack, other, other, "moderator")).status == 409
