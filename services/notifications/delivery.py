"""Delivers stored notifications to webhooks and e-mail, surviving restarts.

A delivery is leased (``lease_until``) in one short transaction, sent outside
any transaction, then marked sent or failed. A sender that dies mid-send leaves
its lease to run out, and the delivery is sent again: at-least-once, with the
same ``X-Haven-Delivery`` id every time, so a receiver can drop the repeat.
Failures retry with exponential back-off and jitter; a webhook endpoint that
keeps failing is disabled and the admins are told.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
import asyncpg
from aiohttp.abc import AbstractResolver

from services.common.db import CONNECTION_ERRORS, transaction
from services.common.errors import InfrastructureError
from services.common.listen import listen_forever
from services.notifications import queries as q
from services.notifications.addresses import InvalidAddress, email_address
from services.notifications.channels import DeliverySettings
from services.notifications.rules import Planned, Recipient
from services.notifications.store import store_notification
from services.notifications.webhook_targets import TargetRefused, WebhookTargets

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Haven-Signature"
DELIVERY_HEADER = "X-Haven-Delivery"


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool | None = None  # None: use STARTTLS when the server offers it
    implicit_tls: bool = False    # SMTPS, usually port 465
    sender: str = "Haven <no-reply@haven.invalid>"
    public_base_url: str = "http://127.0.0.1:8000"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``: the timestamp makes replays detectable."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance_seconds: int = 300, now: float | None = None) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def backoff_seconds(attempts: int, settings: DeliverySettings) -> float:
    """Exponential back-off with jitter over its upper half (so failing receivers are not hit in lockstep)."""
    ceiling = min(settings.backoff_max_seconds, settings.backoff_base_seconds * (2 ** attempts))
    return random.uniform(ceiling / 2, ceiling)


class DeliveryError(Exception):
    """One delivery's failure, recorded on its row; the message names no address or URL (it is logged).

    ``permanent``: retrying cannot help (an address or URL that cannot even be encoded): dead at once.
    """

    def __init__(self, message: str, status: int | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent


# Errors of PostgreSQL itself: the whole round is retried (run()); anything else fails only its delivery.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, InfrastructureError, *CONNECTION_ERRORS)


class DeliveryWorker:
    """Background task: lease due deliveries, send them, record every attempt."""

    def __init__(self, *, pool: asyncpg.Pool, dsn: str, settings: DeliverySettings, smtp: SmtpSettings,
                 poll_seconds: float = 1.0, batch: int = 20, resolver: AbstractResolver | None = None) -> None:
        self._pool = pool
        self._dsn = dsn
        self._settings = settings
        self._smtp = smtp
        # resolver: the DNS behind the target check (tests give a fake one); default: the system's
        self._targets = WebhookTargets(settings.webhook_allowed_hosts, resolver=resolver)
        self._poll = poll_seconds
        self._batch = batch
        self._wakeup = asyncio.Event()
        self._running = True
        self.sent = 0
        self.failed = 0

    def stop(self) -> None:
        self._running = False
        self._wakeup.set()

    async def run(self) -> None:
        listener = asyncio.create_task(listen_forever(self._dsn, q.DELIVERIES_CHANNEL,
                                                      lambda _payload: self._wakeup.set()))
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        # Every connection goes to addresses the vetting resolver returned (no DNS cache, no other lookup).
        connector = aiohttp.TCPConnector(resolver=self._targets.resolver(), use_dns_cache=False)
        try:
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
                while self._running:
                    self._wakeup.clear()
                    try:
                        handled = await self.deliver_due(session)
                    except DATABASE_ERRORS:
                        # transaction() reports an outage as InfrastructureError: keep the worker alive
                        log.warning("delivery worker lost PostgreSQL; retrying", exc_info=True)
                        handled = 0
                    if handled < self._batch:
                        try:
                            await asyncio.wait_for(self._wakeup.wait(), self._poll)
                        except asyncio.TimeoutError:
                            pass
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def deliver_due(self, session: aiohttp.ClientSession) -> int:
        async with transaction(self._pool) as conn:
            leased = await conn.fetch(q.LEASE_DUE, self._batch, self._settings.lease_seconds)
        # Every delivery finishes (no orphan still sending) before a database error ends the round.
        results = await asyncio.gather(*(self._deliver(session, row) for row in leased), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(leased)

    async def _deliver(self, session: aiohttp.ClientSession, row: asyncpg.Record) -> None:
        """Send one delivery and record the outcome; only a database error may escape (the round retries)."""
        attempt, endpoint = row["attempts"] + 1, None
        try:
            endpoint, items = await self._load(row)
            if row["channel"] == "webhook":
                status = await self._post_webhook(session, row["id"], endpoint, items)
            else:
                status = await self._send_email(row["target"], items)
        except DeliveryError as e:
            await self._record_failure(row, endpoint, attempt, e)
            return
        except DATABASE_ERRORS:
            raise
        except Exception as e:  # noqa: BLE001 - input nobody foresaw fails this delivery, never the worker
            await self._record_failure(row, endpoint, attempt, DeliveryError(f"unexpected {e.__class__.__name__}"))
            return
        async with transaction(self._pool) as conn:
            await conn.execute(q.MARK_SENT, row["id"])
            await conn.execute(q.RECORD_ATTEMPT, row["id"], attempt, True, status, None)
            if endpoint is not None:
                await conn.execute(q.ENDPOINT_SUCCEEDED, endpoint["id"])
        self.sent += 1

    async def _load(self, row: asyncpg.Record) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
        async with self._pool.acquire() as conn:
            items = await conn.fetch(q.DELIVERY_ITEMS, row["id"])
            endpoint = await conn.fetchrow(q.ENDPOINT_BY_ID, uuid.UUID(row["target"])) \
                if row["channel"] == "webhook" else None
        return endpoint, items

    async def _record_failure(self, row, endpoint, attempt: int, error: DeliveryError) -> None:
        self.failed += 1
        log.warning("delivery %s attempt %d failed: %s", row["id"], attempt, error)
        max_attempts = 1 if error.permanent else self._settings.webhook_max_attempts
        async with transaction(self._pool) as conn:
            await conn.execute(q.MARK_FAILED, row["id"], str(error)[:500], max_attempts,
                               backoff_seconds(attempt, self._settings))
            await conn.execute(q.RECORD_ATTEMPT, row["id"], attempt, False, error.status, str(error)[:500])
            if endpoint is None:
                return
            result = await conn.fetchrow(q.ENDPOINT_FAILED, endpoint["id"], self._settings.webhook_disable_after)
            if result is not None and result["just_disabled"]:
                notice = Planned(Recipient(role="admin"), "webhook.disabled",
                                 {"endpoint_id": str(endpoint["id"]), "failures": self._settings.webhook_disable_after})
                await store_notification(conn, notice, uuid.uuid4(), self._settings)

    async def _post_webhook(self, session: aiohttp.ClientSession, delivery_id: uuid.UUID, endpoint,
                            items: list[asyncpg.Record]) -> int:
        if endpoint is None or not endpoint["enabled"]:
            raise DeliveryError("endpoint disabled or gone")
        try:
            url = self._targets.parse(endpoint["url"])  # a URL stored before the checks may not even encode
        except TargetRefused as e:
            raise DeliveryError(f"webhook target refused: {e}", permanent=True) from None
        body = json.dumps({"delivery_id": str(delivery_id),
                           "notifications": [_public(item) for item in items]}).encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(delivery_id),
                   SIGNATURE_HEADER: sign(endpoint["secret"], int(time.time()), body)}
        try:
            self._targets.check_url(url)  # an IP literal; a name is checked by the connector's resolver
            # No redirects: a 30x would turn the signed POST into a bodiless GET elsewhere.
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return response.status
                raise DeliveryError(f"HTTP {response.status}", response.status)
        except TargetRefused as e:  # may resolve to a public address again later: retried, not dead at once
            raise DeliveryError(f"webhook target refused: {e}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise DeliveryError(f"{e.__class__.__name__}") from e

    async def _send_email(self, address: str, items: list[asyncpg.Record]) -> int:
        if not self._smtp.host:
            raise DeliveryError("SMTP is not configured")
        try:
            # Checked again: rows stored before addresses were checked by a parser must fail alone.
            message = compose_email(email_address(address), [_public(item) for item in items], self._smtp)
        except InvalidAddress:
            raise DeliveryError("invalid e-mail address", permanent=True) from None
        except (ValueError, TypeError) as e:
            raise DeliveryError(f"cannot compose the e-mail ({e.__class__.__name__})", permanent=True) from None
        try:
            await smtp_send(message, self._smtp, self._settings.timeout_seconds)
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError, ValueError) as e:
            raise DeliveryError(f"SMTP: {e.__class__.__name__}") from e
        return 250


async def smtp_send(message: EmailMessage, smtp: SmtpSettings, timeout: float) -> None:
    """Send one message; log in only over TLS, whatever the server offers.

    aiosmtplib's own login-on-connect would send AUTH over a plain connection when the
    server (or a man in the middle stripping STARTTLS from EHLO) offers no TLS, so we
    connect without credentials, check the transport, then log in ourselves.
    """
    client = aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port, use_tls=smtp.implicit_tls,
                             start_tls=smtp.starttls, timeout=timeout)
    async with client:
        if smtp.username:
            if client.get_transport_info("sslcontext") is None:
                raise DeliveryError("SMTP: refusing to log in over a connection without TLS")
            await client.login(smtp.username, smtp.password or "")
        await client.send_message(message)


def _public(item: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(item["id"]), "type": item["type"], "category": item["category"],
            "data": json.loads(item["data"]), "created_at": item["created_at"].isoformat()}


_LINES = {
    "crisis.escalation": "An escalation needs you now: {base}/crisis/escalations/{escalation_id}",
    "crisis.repage": "Still unacknowledged: an escalation needs you: {base}/crisis/escalations/{escalation_id}",
    "crisis.acknowledged": "An escalation was acknowledged: {base}/crisis/escalations/{escalation_id}",
    "support.resources": "A member of our care team is reading your post. Open Haven to see the support we sent you.",
    "support.outreach": "Our care team sent you a private message. Open Haven to read it.",
    "post.held": "Your post is waiting for a moderator. Open Haven to see why.",
    "post.removed": "A moderator removed your post. Open Haven to see why and how to appeal.",
    "post.redacted": "A moderator edited personal details out of your post.",
    "post.restored": "Your post is visible again.",
    "account.warning": "A moderator sent you a warning. Open Haven to read it.",
    "account.suspended": "Your account is suspended for a while. Open Haven for details.",
    "queue.item_held": "A post is waiting for review: {base}/moderation/queue",
    "queue.report_threshold": "A reported post was hidden for review: {base}/moderation/queue",
    "queue.appeal": "A member appealed a removal: {base}/moderation/queue",
    "report.handled": "Thank you: a moderator handled your report.",
    "reply.published": "Someone replied in your thread.",
    "reaction.added": "Someone sent support on your post.",
    "webhook.disabled": "A webhook endpoint was disabled after repeated failures.",
}


def compose_email(address: str, notifications: list[dict[str, Any]], smtp: SmtpSettings) -> EmailMessage:
    """Plain text, no post content: crisis e-mails only say an escalation needs you, and link to it."""
    lines = []
    for item in notifications:
        template = _LINES.get(item["type"], "You have a new notification in Haven.")
        fields = {"base": smtp.public_base_url.rstrip("/"), "escalation_id": item["data"].get("escalation_id", "")}
        lines.append(template.format(**fields))
    crisis = any(item["category"] == "crisis" for item in notifications)
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = address
    message["Subject"] = "Haven: an escalation needs you" if crisis else (
        "Haven: your notifications" if len(notifications) > 1 else "Haven: a new notification")
    message.set_content("\n\n".join(lines) + "\n\n-- \nHaven. Change what we send you in your preferences.\n")
    return message
