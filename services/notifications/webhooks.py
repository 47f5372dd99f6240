"""The webhook registry: endpoints admins register, per role (e.g. the crisis team's pager) or per user,
and the log of what was sent to each. Where a webhook may point is webhook_targets.py's policy; sending is
delivery.py's job."""

from __future__ import annotations

import secrets
import uuid

import asyncpg

from services.common.db import connection, transaction
from services.common.errors import NotFound, ValidationError
from services.notifications import queries as q
from services.notifications.webhook_targets import TargetRefused, WebhookTargets


class WebhookRegistry:
    def __init__(self, pool: asyncpg.Pool, targets: WebhookTargets | None = None) -> None:
        self._pool = pool
        self._targets = targets or WebhookTargets()

    async def create(self, url: str, *, role: str | None, user_id: str | None) -> tuple[asyncpg.Record, str]:
        """Register an endpoint whose URL reaches only public addresses (or an allow-listed host): no SSRF.

        Returns the endpoint and its signing secret, which is shown this once and never again."""
        try:
            await self._targets.vet(url)
        except TargetRefused as e:
            raise ValidationError(f"url {e}; webhooks go to public addresses only (or to a host in "
                                  "WEBHOOK_ALLOWED_HOSTS)", field="url") from None
        secret = secrets.token_urlsafe(32)
        async with transaction(self._pool) as conn:
            row = await conn.fetchrow(q.INSERT_ENDPOINT, uuid.uuid4(), uuid.UUID(user_id) if user_id else None, role,
                                      url, secret)
        return row, secret

    async def list(self) -> list[asyncpg.Record]:
        async with connection(self._pool) as conn:
            return await conn.fetch(q.LIST_ENDPOINTS)

    async def deliveries(self, endpoint_id: str, limit: int = 100) -> list[asyncpg.Record]:
        """The endpoint's latest deliveries, newest first, each with its attempts (``attempt_log``, JSON)."""
        async with connection(self._pool) as conn:
            if await conn.fetchrow(q.ENDPOINT_BY_ID, uuid.UUID(endpoint_id)) is None:
                raise NotFound("no such webhook")
            return await conn.fetch(q.DELIVERY_LOG, endpoint_id, limit)
