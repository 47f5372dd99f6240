"""One bad target never stops delivery, and webhooks reach only public addresses (issue 24, items 1 and 6).

* An e-mail address holding U+2028, \\x0b, \\x1c or \\x85 passed preference validation, then
  ``compose_email`` raised outside the delivery ``try``: the worker died, the next replica
  leased the same row and died too, crisis e-mail stopped, and /healthz said 200. A webhook
  URL failing IDNA encoding did the same. Now the preferences refuse such addresses, a row
  stored before that is recorded as failed (on the row) while the others go out, and a dead
  worker would fail /healthz (tests/unit/test_healthz_tasks.py).
* Webhook targets on loopback, link-local, private, metadata... addresses are refused at
  registration (400 naming ``url``) and again at send time (recorded as a failed delivery),
  unless allow-listed by host name (WEBHOOK_ALLOWED_HOSTS); the sending connector connects to
  exactly the addresses its resolver checked.

Real PostgreSQL, Kafka, SMTP sink and webhook receiver (tests/support); rows that no API would
accept any more are written straight into the database, as an older version stored them.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.common.db import create_pool
from services.common.service import migrate
from services.notifications.channels import DeliverySettings
from services.notifications.delivery import DeliveryWorker, SmtpSettings
from services.notifications.main import MIGRATIONS
from tests.support.invariants import SmtpSink, WebhookReceiver
from tests.support.stack import Isolation, Stack, User, start_stack
from tests.support.waiting import eventually

CRISIS = "I have the pills ready and I'm taking all of them tonight"
BAD_ADDRESSES = ["night\u2028shift@example.org", "night\x0bshift@example.org", "night\x1cshift@example.org",
                 "night\x85shift@example.org"]
BAD_URLS = ["http://exa\u2028mple.org/hook", "http://xn--a.example/hook", "http://pager.example.org:99999/hook"]


@pytest.fixture
def smtp():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def receiver():
    pager = WebhookReceiver()
    await pager.start()
    yield pager
    await pager.close()


async def _crisis_post(stack: Stack) -> None:
    author = await stack.register()
    await stack.start_thread(author, CRISIS)


async def _mail_count(smtp: SmtpSink, address: str) -> int:
    return sum(address in recipients for recipients, _ in smtp.messages)


async def _healthy(stack: Stack) -> None:
    health = await stack.notifications.get("/healthz")
    ready = await (await stack.notifications.get("/readyz")).json()
    assert health.status == 200, await health.text()
    assert ready["checks"]["task:delivery"] is True, "the delivery worker must still be running"


async def _on_rota_with_address(stack: Stack, admin: User, address: str) -> User:
    worker = await stack.staff("crisis_staff")
    put = await stack.notifications.put("/v1/preferences", headers=worker.auth, json={"email": address})
    assert put.status == 200, await put.text()
    rota = await stack.notifications.put(f"/v1/rota/{worker.id}", headers=admin.auth, json={"tier": 1})
    assert rota.status == 200, await rota.text()
    return worker


async def _errors_of(stack: Stack, channel: str, targets: list[str]) -> list[tuple[str, str | None]]:
    rows = await stack.db.fetch("SELECT status, last_error FROM notifications.deliveries "
                                "WHERE channel = $1 AND target = ANY($2::text[]) ORDER BY target",
                                channel, targets)
    return [(r["status"], r["last_error"]) for r in rows]


# --- item 1: e-mail addresses ----------------------------------------------------------------------

async def test_preferences_refuse_addresses_that_cannot_be_mailed(stack: Stack) -> None:
    member = await stack.register()
    for address in [*BAD_ADDRESSES, "nobody@localhost", "two@@example.org", "Sam <sam@example.org>"]:
        response = await stack.notifications.put("/v1/preferences", headers=member.auth, json={"email": address})
        assert response.status == 400, f"{address!r} was accepted"
        assert (await response.json())["error"]["field"] == "email"
    ok = await stack.notifications.put("/v1/preferences", headers=member.auth, json={"email": "sam@EXAMPLE.org"})
    assert ok.status == 200 and (await ok.json())["email"] == "sam@example.org", "the domain is normalised"


async def test_stored_bad_addresses_do_not_stop_crisis_email(isolation: Isolation, smtp: SmtpSink) -> None:
    async with start_stack(isolation, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port), SMTP_STARTTLS="false",
                           DELIVERY_BACKOFF_SECONDS="0.1") as stack:
        admin = await stack.staff("admin")
        await _on_rota_with_address(stack, admin, "alex@example.org")
        for address in BAD_ADDRESSES:  # on the rota with an address stored before addresses were checked
            user = uuid.uuid4()
            await stack.db.execute("INSERT INTO notifications.preferences (user_id, role, email) "
                                   "VALUES ($1, 'crisis_staff', $2)", user, address)
            await stack.db.execute("INSERT INTO notifications.rota (user_id, tier, on_rota) VALUES ($1, 1, true)",
                                   user)

        await _crisis_post(stack)
        await eventually(lambda: _mail_count(smtp, "alex@example.org"), what="the page to the good address")

        async def all_bad_ones_dead():
            errors = await _errors_of(stack, "email", BAD_ADDRESSES)
            return errors if len(errors) == len(BAD_ADDRESSES) and all(s == "dead" for s, _ in errors) else None

        errors = await eventually(all_bad_ones_dead, what="each bad address recorded as failed on its row")
        assert {error for _, error in errors} == {"invalid e-mail address"}, errors
        await _healthy(stack)

        await _crisis_post(stack)  # the worker still runs: the next page goes out too
        await eventually(lambda: _at_least(_mail_count(smtp, "alex@example.org"), 2), what="the second page")
        await _healthy(stack)


async def _at_least(count, n: int) -> bool:
    return await count >= n


# --- items 1 and 6: webhook URLs -------------------------------------------------------------------

async def test_stored_bad_webhook_urls_do_not_stop_delivery(isolation: Isolation, receiver: WebhookReceiver) -> None:
    async with start_stack(isolation, WEBHOOK_ALLOWED_HOSTS="127.0.0.1", DELIVERY_BACKOFF_SECONDS="0.1") as stack:
        admin = await stack.staff("admin")
        good = await stack.notifications.post("/v1/webhooks", headers=admin.auth,
                                              json={"url": receiver.url, "role": "crisis_staff"})
        assert good.status == 201, await good.text()
        bad_ids = []
        for url in BAD_URLS:  # stored before URLs were checked this strictly
            endpoint = uuid.uuid4()
            await stack.db.execute("INSERT INTO notifications.webhook_endpoints (id, owner_role, url, secret) "
                                   "VALUES ($1, 'crisis_staff', $2, 'secret')", endpoint, url)
            bad_ids.append(str(endpoint))
            refused = await stack.notifications.post("/v1/webhooks", headers=admin.auth,
                                                     json={"url": url, "role": "crisis_staff"})
            assert refused.status == 400 and (await refused.json())["error"]["field"] == "url", url

        await _crisis_post(stack)
        await eventually(lambda: _received(receiver, 1), what="the good endpoint's delivery")

        async def bad_ones_failed():
            errors = await _errors_of(stack, "webhook", bad_ids)
            return errors if len(errors) == len(bad_ids) and all(e for _, e in errors) else None

        errors = await eventually(bad_ones_failed, what="each bad URL recorded as failed on its row")
        assert all(status == "dead" and error.startswith("webhook target refused") for status, error in errors), errors
        await _healthy(stack)
        await _crisis_post(stack)
        await eventually(lambda: _received(receiver, 2), what="the next delivery")
        await _healthy(stack)


async def _received(receiver: WebhookReceiver, n: int) -> bool:
    return receiver.requests >= n


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/", "http://[::ffff:127.0.0.1]:9/hook", "http://10.0.0.1/hook",
    "http://[::1]:9/hook", "http://0.0.0.0:9/hook", "http://224.0.0.1/hook", "http://2130706433/hook",
    "http://nowhere.invalid/hook",
])
async def test_registration_refuses_internal_targets(isolation: Isolation, url: str) -> None:
    async with start_stack(isolation, without=("moderation",), WEBHOOK_ALLOWED_HOSTS="") as stack:
        admin = await stack.staff("admin")
        response = await stack.notifications.post("/v1/webhooks", headers=admin.auth,
                                                  json={"url": url, "role": "crisis_staff"})
        assert response.status == 400, await response.text()
        error = (await response.json())["error"]
        assert error["field"] == "url" and error["code"] == "invalid"
        assert await stack.db.fetchval("SELECT count(*) FROM notifications.webhook_endpoints") == 0


async def test_send_time_check_refuses_an_internal_target(isolation: Isolation, receiver: WebhookReceiver) -> None:
    """An endpoint that became internal after registration (rows from before the check, DNS changes)."""
    async with start_stack(isolation, WEBHOOK_ALLOWED_HOSTS="", DELIVERY_BACKOFF_SECONDS="0.1") as stack:
        endpoint = uuid.uuid4()
        await stack.db.execute("INSERT INTO notifications.webhook_endpoints (id, owner_role, url, secret) "
                               "VALUES ($1, 'crisis_staff', $2, 'secret')", endpoint, receiver.url)
        await _crisis_post(stack)

        async def attempted():
            errors = await _errors_of(stack, "webhook", [str(endpoint)])
            return errors if errors and errors[0][1] else None

        ((_, error),) = await eventually(attempted, what="the refused attempt recorded")
        assert error == "webhook target refused: targets a loopback address"
        assert receiver.requests == 0, "nothing may reach the internal address"
        await _healthy(stack)


async def test_the_connector_connects_to_the_address_its_resolver_checked(isolation: Isolation,
                                                                          receiver: WebhookReceiver) -> None:
    """``pager.test`` exists only in the worker's resolver: the POST reaching 127.0.0.1 proves the connection
    goes to the resolver's (checked) answer, with no second lookup that DNS rebinding could swap."""
    from tests.unit.test_webhook_targets import FakeDns

    await migrate(isolation.database_url, "notifications", MIGRATIONS)
    pool = await create_pool(isolation.database_url, "notifications", min_size=1, max_size=4)
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    try:
        async with pool.acquire() as conn:
            allowed, refused = await _endpoint_with_delivery(conn, f"http://pager.test:{port}/hook"), \
                await _endpoint_with_delivery(conn, f"http://rebound.test:{port}/hook")
        dns = FakeDns({"pager.test": [["127.0.0.1"]], "rebound.test": [["127.0.0.1"]]})
        settings = DeliverySettings(webhook_allowed_hosts=frozenset({"pager.test"}), backoff_base_seconds=60,
                                    timeout_seconds=5)
        worker = DeliveryWorker(pool=pool, dsn=isolation.database_url, settings=settings, smtp=SmtpSettings(),
                                resolver=dns, poll_seconds=0.2)
        task = asyncio.create_task(worker.run())
        try:
            async def both_done():
                rows = await pool.fetch("SELECT id, status, last_error, attempts FROM deliveries ORDER BY id")
                return {r["id"]: (r["status"], r["last_error"]) for r in rows} if all(
                    r["attempts"] > 0 for r in rows) else None

            done = await eventually(both_done, what="both deliveries attempted")
            assert done[allowed] == ("sent", None)
            assert done[refused] == ("pending", "webhook target refused: targets a loopback address")
            assert receiver.requests == 1
            assert not task.done()
        finally:
            worker.stop()
            await asyncio.wait_for(task, 10)
    finally:
        await pool.close()


async def _endpoint_with_delivery(conn, url: str) -> uuid.UUID:
    endpoint, notification, delivery = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await conn.execute("INSERT INTO webhook_endpoints (id, owner_role, url, secret) VALUES ($1, 'admin', $2, 's')",
                       endpoint, url)
    await conn.execute("INSERT INTO notifications (id, recipient_role, type, category, data, source_event_id) "
                       "VALUES ($1, 'admin', 'webhook.disabled', 'system', '{}', $2)", notification, uuid.uuid4())
    await conn.execute("INSERT INTO deliveries (id, channel, target) VALUES ($1, 'webhook', $2)", delivery,
                       str(endpoint))
    await conn.execute("INSERT INTO delivery_items (notification_id, channel, target, delivery_id) "
                       "VALUES ($1, 'webhook', $2, $3)", notification, str(endpoint), delivery)
    return delivery
