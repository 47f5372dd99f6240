"""All three services in-process, on ephemeral ports, against real PostgreSQL and Kafka."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.common.service import migrate
from services.forum import main as forum_main
from services.forum.appkeys import STORE as FORUM_STORE
from services.forum.config import ForumConfig
from services.moderation import main as moderation_main
from services.moderation.config import ModerationConfig
from services.notifications import main as notifications_main
from services.notifications.config import NotificationsConfig

PASSWORD = "correct horse battery staple"
_handles = itertools.count()


@dataclass(frozen=True)
class Isolation:
    """One test's own database, topic prefix, keys and model."""

    database_url: str
    bootstrap_servers: str
    topic_prefix: str
    private_key: Path
    public_key: Path
    model: tuple[Path, Path]

    def env(self, **overrides: str) -> dict[str, str]:
        checkpoint, config_dir = self.model
        return {
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "HAVEN_TOPIC_PREFIX": self.topic_prefix,
            "TOKEN_PUBLIC_KEY_FILE": str(self.public_key),
            "TOKEN_PRIVATE_KEY_FILE": str(self.private_key),
            "DETOXIFY_CHECKPOINT": str(checkpoint),
            "DETOXIFY_HF_CONFIG_PATH": str(config_dir),
            "OUTBOX_POLL_SECONDS": "0.5",
            "HTTP_PORT": "0",
            # The tests' webhook receivers listen on 127.0.0.1, an address webhooks may not reach otherwise.
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            **overrides,
        }


@dataclass(frozen=True)
class User:
    id: str
    handle: str
    role: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Stack:
    isolation: Isolation
    db: asyncpg.Connection
    forum: TestClient
    moderation: TestClient | None
    notifications: TestClient | None
    community: str = "general"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def forum_app(self) -> web.Application:
        return self.forum.server.app

    @property
    def moderation_app(self) -> web.Application:
        return self.moderation.server.app

    @property
    def notifications_app(self) -> web.Application:
        return self.notifications.server.app

    async def register(self, handle: str | None = None) -> User:
        handle = handle or f"member{next(_handles)}_{uuid.uuid4().hex[:6]}"
        response = await self.forum.post("/v1/auth/register", json={"handle": handle, "password": PASSWORD})
        assert response.status == 201, await response.text()
        body = await response.json()
        return User(body["user"]["id"], handle, body["user"]["role"], body["token"])

    async def staff(self, role: str) -> User:
        handle = f"{role}{next(_handles)}_{uuid.uuid4().hex[:6]}"
        await self.forum_app[FORUM_STORE].create_user(handle, PASSWORD, role)
        response = await self.forum.post("/v1/auth/login", json={"handle": handle, "password": PASSWORD})
        assert response.status == 200, await response.text()
        body = await response.json()
        return User(body["user"]["id"], handle, role, body["token"])

    async def start_thread(self, user: User, body: str, title: str = "A thread") -> dict[str, Any]:
        response = await self.forum.post(f"/v1/communities/{self.community}/threads",
                                         json={"title": title, "body": body}, headers=user.auth)
        assert response.status == 201, await response.text()
        return await response.json()

    async def post_status(self, user: User, post_id: str) -> str | None:
        response = await self.forum.get(f"/v1/posts/{post_id}", headers=user.auth)
        if response.status != 200:
            return None
        return (await response.json())["post"]["status"]

    async def has_status(self, user: User, post_id: str, status: str) -> bool:
        return await self.post_status(user, post_id) == status

    async def is_decided(self, user: User, post_id: str) -> bool:
        return await self.post_status(user, post_id) not in ("pending", None)

    async def notifications_of(self, user: User) -> list[dict[str, Any]]:
        response = await self.notifications.get("/v1/notifications", headers=user.auth)
        assert response.status == 200, await response.text()
        return (await response.json())["items"]


async def start_client(app: web.Application) -> TestClient:
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    return client


def build_app(name: str, env: dict[str, str]) -> web.Application:
    """One service's app, built by its own factory from environment-style settings."""
    if name == "forum":
        return forum_main.create_app(ForumConfig.from_env(env))
    if name == "moderation":
        return moderation_main.create_app(ModerationConfig.from_env(env))
    return notifications_main.create_app(NotificationsConfig.from_env(env))


@contextlib.asynccontextmanager
async def start_stack(isolation: Isolation, *, without: tuple[str, ...] = (), **overrides: str) -> AsyncIterator[Stack]:
    """Start the three services (minus ``without``, whose client is then None) on ephemeral ports."""
    env = isolation.env(**overrides)
    for schema, directory in (("forum", forum_main.MIGRATIONS), ("moderation", moderation_main.MIGRATIONS),
                              ("notifications", notifications_main.MIGRATIONS)):
        await migrate(isolation.database_url, schema, directory)
    clients: dict[str, TestClient | None] = {}
    stack: Stack | None = None
    db = await asyncpg.connect(isolation.database_url)
    try:
        for name in ("forum", "moderation", "notifications"):
            clients[name] = None if name in without else await start_client(build_app(name, env))
        stack = Stack(isolation, db=db, **clients)
        await stack.forum_app[FORUM_STORE].ensure_community("general", "General", "")
        yield stack
    finally:
        # A test may have replaced a service (a restart): close what is running now, too.
        current = [stack.notifications, stack.moderation, stack.forum] if stack else []
        for client in dict.fromkeys([*current, *reversed(clients.values())]):
            if client is not None and not client.server.closed:
                await client.close()
        await db.close()
