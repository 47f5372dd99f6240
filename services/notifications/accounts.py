"""forum.accounts in notifications: ended sessions and role changes (services/common/sessions.py).

A role change also moves the account's paging: its preferences carry the new role (role-addressed
notifications and e-mail follow it), and anyone who is no longer crisis staff leaves the crisis
rota, so a demoted crisis worker is neither paged nor listed.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.common.envelope import Event
from services.notifications import queries as q

ROTA_ROLE = "crisis_staff"


async def follow_role_change(conn: asyncpg.Connection, event: Event) -> None:
    user_id, role = uuid.UUID(event.data["user_id"]), event.data["role"]
    await conn.execute(q.SET_PREFERENCES_ROLE, user_id, role)
    if role != ROTA_ROLE:
        await conn.execute(q.LEAVE_ROTA, user_id)

