"""Logs never carry post bodies, passwords or tokens.

A full run (register, login, refresh, ordinary, crisis, flagged and
personal-data posts, a reply, an edit, reports with notes, moderator actions,
crisis notes and outreach, notifications) with every logger at DEBUG into a
captured handler, configured by the services' own ``configure_logging`` (as
``LOG_LEVEL=DEBUG`` would); then the log text is searched for every secret and
every text the run sent. (aiokafka at DEBUG logs whole event payloads, post
bodies included: ``configure_logging`` keeps it at WARNING, and this test
pins that.)
"""

from __future__ import annotations

import io
import logging
import uuid

import pytest

from services.common.logs import configure_logging
from tests.support.stack import PASSWORD, Stack, User
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def captured_logs():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("aiokafka").level)
    configure_logging("security-test", "DEBUG")
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)
    # Load-bearing: aiokafka's DEBUG lines carry whole event payloads (post bodies), so the
    # services' logging keeps aiokafka at WARNING whatever LOG_LEVEL says.
    assert logging.getLogger("aiokafka").getEffectiveLevel() >= logging.WARNING
    try:
        yield buffer
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        logging.getLogger("aiokafka").setLevel(saved[2])


async def test_a_full_run_logs_no_text_password_or_token(captured_logs: io.StringIO, stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    secrets: list[str] = [PASSWORD]

    def text(words: str) -> str:
        secrets.append(f"{words} {tag}")
        return secrets[-1]

    password = f"my own secret passphrase {tag}"
    secrets.append(password)
    response = await stack.forum.post("/v1/auth/register", json={"handle": f"quiet_{tag}", "password": password})
    assert response.status == 201
    session = await response.json()
    response = await stack.forum.post("/v1/auth/login", json={"handle": f"quiet_{tag}", "password": password})
    login = await response.json()
    response = await stack.forum.post("/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
    refreshed = await response.json()
    await stack.forum.post("/v1/auth/login", json={"handle": f"quiet_{tag}", "password": f"wrong guess {tag}"})
    secrets.append(f"wrong guess {tag}")
    for s in (session, login, refreshed):
        secrets += [s["token"], s["refresh_token"]]
    author = {"Authorization": f"Bearer {refreshed['token']}"}
    other, moderator, crisis = await stack.register(), await stack.staff("moderator"), await stack.staff("crisis_staff")
    secrets += [other.token, moderator.token, crisis.token]

    async def start(body: str) -> dict:
        response = await stack.forum.post(f"/v1/communities/{stack.community}/threads", headers=author,
                                          json={"title": text("a title"), "body": body})
        assert response.status == 201, await response.text()
        return await response.json()

    ordinary = await start(text("Ninety days clean today and the cravings are quieter"))
    crisis_post = await start(text("I have the pills ready and I'm taking all of them tonight"))
    flagged = await start(text("you stupid loser"))
    await start(text("call my sponsor Maria Lopez at 555-201-7788 she lives at 12 Elm Street"))
    thread_id, post_id = ordinary["thread"]["id"], ordinary["post"]["id"]
    await eventually(lambda: stack.has_status(other, post_id, "published"), what="published")
    await stack.forum.post(f"/v1/threads/{thread_id}/posts", headers=other.auth, json={"body": text("proud of you")})
    await stack.forum.patch(f"/v1/posts/{post_id}", headers=author, json={"body": text("Ninety one days now")})
    await stack.forum.post(f"/v1/posts/{flagged['post']['id']}/reports", headers=other.auth,
                           json={"reason": "harassment", "note": text("this is aimed at me")})

    async def escalation():
        items = (await (await stack.moderation.get("/v1/escalations", headers=crisis.auth)).json())["items"]
        return items[0]["id"] if items else None

    escalation_id = await eventually(escalation, what="an escalation")
    await stack.moderation.post(f"/v1/escalations/{escalation_id}/acknowledge", headers=crisis.auth)
    await stack.moderation.post(f"/v1/escalations/{escalation_id}/notes", headers=crisis.auth,
                                json={"note": text("called them, they are safe")})
    await stack.moderation.post(f"/v1/escalations/{escalation_id}/outreach", headers=crisis.auth,
                                json={"message": text("we are here for you tonight")})

    async def queue():
        items = (await (await stack.moderation.get("/v1/queue", headers=moderator.auth)).json())["items"]
        return items if len(items) >= 2 else None

    for item in await eventually(queue, what="queue items"):
        await stack.moderation.post(f"/v1/queue/{item['id']}/actions", headers=moderator.auth,
                                    json={"action": "note", "message": text("looked at this one")})
    await eventually(lambda: stack.has_status(crisis, crisis_post["post"]["id"], "held"), what="held")
    author_user = User(refreshed["user"]["id"], refreshed["user"]["handle"], "member", refreshed["token"])
    await eventually(lambda: stack.notifications_of(author_user), what="the author's notifications")

    logs = captured_logs.getvalue()
    assert len(logs) > 10_000, "the run logged at DEBUG"  # the scan saw a real log
    leaked = [secret for secret in secrets if secret in logs]
    where = sorted({line[:160] for line in logs.splitlines() if any(s in line for s in leaked)})[:10]
    assert not leaked, (f"logs carry {len(leaked)} secret(s)/text(s): {[s[:24] + '...' for s in leaked]}, in:\n"
                        + "\n".join(where))
    assert tag not in logs, "no piece of any text the run sent appears in the logs"
