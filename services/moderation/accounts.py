"""forum.accounts in moderation: ended sessions and role changes (services/common/sessions.py),
and an audit entry for every role change (who changed whose role, from what to what)."""

from __future__ import annotations

import asyncpg

from services.common.envelope import Event
from services.common.tokens import Principal
from services.moderation import audit


async def audit_role_change(conn: asyncpg.Connection, event: Event) -> None:
    data = event.data
    await audit.record(conn, actor=Principal(data["changed_by"], "", "admin"), action="role.change",
                       subject=f"user:{data['user_id']}", before={"role": data["previous_role"]},
                       after={"role": data["role"]})

