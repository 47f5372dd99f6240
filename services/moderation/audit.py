"""The append-only audit log: who did what to which subject, why, before and after.

Written in the same transaction as the action it records. There is no update
or delete path here, and the database refuses both (migration 020's trigger).
Admins read it through ``GET /v1/audit`` (``ReviewQueue.audit_page``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from services.common.tokens import Principal
from services.moderation import queries as q


async def record(conn: asyncpg.Connection, *, actor: Principal | None, action: str, subject: str,
                 reason: str | None = None, before: Any = None, after: Any = None) -> None:
    await conn.execute(
        q.INSERT_AUDIT,
        uuid.UUID(actor.user_id) if actor else None,
        actor.role if actor else "system",
        action, subject, reason,
        json.dumps(before, default=str) if before is not None else None,
        json.dumps(after, default=str) if after is not None else None,
    )

