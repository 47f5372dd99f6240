"""forum service: the whole flow, readable top to bottom.

HTTP request ─► views ─► store: change + outbox row in ONE transaction ─► 201
outbox relay ─► Kafka ``forum.posts`` / ``forum.reports`` ─► moderation
Kafka ``moderation.decisions`` / ``moderation.actions`` ─► ModerationHandler ─► post status
    (per version), redactions, suspensions
sweeper ─► re-emits posts left pending too long (a safety net, not the path)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
from aiohttp import web

from services.common.consumer import ConsumerLoop
from services.common.envelope import Event
from services.common.errors import ConfigError
from services.common.service import service_app
from services.common.http.appkeys import TRUSTED_PROXIES, VERIFIER
from services.common.ratelimit import LoginGuard, RateLimiter
from services.common.resources import POOL, background_ctx, consumer_ctx, pool_ctx, producer_ctx, relay_ctx
from services.common.retention import Purge, retention_ctx
from services.common.tokens import TokenSigner
from services.common.topics import MODERATION_ACTIONS, MODERATION_DECISIONS
from services.forum.appkeys import CONFIG, LIMITS, SIGNER, STORE, Limits
from services.forum.config import SCHEMA, ForumConfig
from services.forum.queries import REFRESH_TOKEN_RETENTION
from services.forum.routes import setup_routes
from services.forum.store import ForumStore, apply_action, apply_decision

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"
DECISIONS_CONSUMER = web.AppKey("decisions_consumer", ConsumerLoop)


class ModerationHandler:
    """Applies moderation's decisions and moderators' actions to posts and accounts.

    Stale ones (for a version the author has edited since) are ignored.
    """

    async def prepare(self, events: list[Event]) -> None:
        return None

    async def apply(self, conn: asyncpg.Connection, event: Event) -> None:
        if event.type == "decision.made":
            await apply_decision(conn, event)
        elif event.type == "action.taken":
            await apply_action(conn, event)


class PendingSweeper:
    """Every few seconds, re-emit posts whose decision has not arrived in time."""

    def __init__(self, store: ForumStore, older_than_seconds: float) -> None:
        self._store = store
        self._older_than = older_than_seconds
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        interval = max(0.5, min(self._older_than / 2, 30.0))
        while not self._stopped.is_set():
            try:
                if swept := await self._store.sweep_pending(self._older_than):
                    log.warning("re-emitted %d post(s) still pending after %.0fs", swept, self._older_than)
            except Exception:  # noqa: BLE001 - a safety net must not die of one failure
                log.warning("pending sweep failed", exc_info=True)
            try:
                await asyncio.wait_for(self._stopped.wait(), interval)
            except asyncio.TimeoutError:
                pass


def create_app(config: ForumConfig) -> web.Application:
    common = config.common
    app = service_app("forum", config, CONFIG, HERE)
    app[SIGNER] = TokenSigner.from_file(config.token_private_key_file, config.access_token_ttl_seconds)
    if app[SIGNER].key_id not in app[VERIFIER].key_ids:
        raise ConfigError("TOKEN_PRIVATE_KEY_FILE's public key is not in TOKEN_PUBLIC_KEY_FILE: during a key "
                          "rotation, add the new public key to every service first (docs/security.md)")
    app[TRUSTED_PROXIES] = common.trusted_proxies
    app[LIMITS] = Limits(
        posts=RateLimiter(config.posts_per_minute, 60),
        reports=RateLimiter(config.reports_per_minute, 60),
        logins=LoginGuard.create(failures_per_minute=config.auth_attempts_per_minute,
                                 handle_failures_per_hour=config.auth_failures_per_handle_per_hour,
                                 known_address_days=config.known_login_address_days),
        registrations=RateLimiter(config.registrations_per_hour, 3600),
    )
    app.cleanup_ctx.extend([
        pool_ctx(common.database_url, SCHEMA, common.db_pool_min, common.db_pool_max),
        store_ctx(config),
        producer_ctx(common.kafka_bootstrap_servers, f"{common.topic_prefix}forum"),
        relay_ctx(common.database_url, SCHEMA, common.relay_poll_seconds),
        consumer_ctx(DECISIONS_CONSUMER, common, group="forum-decisions",
                     topics=[MODERATION_DECISIONS, MODERATION_ACTIONS], handler=lambda app: ModerationHandler()),
        background_ctx("pending-sweeper", lambda app: PendingSweeper(app[STORE], config.pending_sweep_seconds)),
        retention_ctx(common, Purge("refresh_tokens", REFRESH_TOKEN_RETENTION,
                                    timedelta(days=config.refresh_token_retention_days))),
    ])
    setup_routes(app)
    return app


def store_ctx(config: ForumConfig):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[STORE] = ForumStore(app[POOL], refresh_ttl=timedelta(days=config.refresh_token_ttl_days))
        yield

    return ctx
