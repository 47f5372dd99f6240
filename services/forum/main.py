"""forum service: the whole flow, readable top to bottom.

HTTP request ─► routes ─► views (parse, validate, shape JSON) ─► store (domain rules) ─► queries (SQL)
    a change and its outbox event (events.py) in ONE transaction ─► 201
outbox relay ─► Kafka ``forum.posts`` / ``forum.reports`` ─► moderation; ``forum.reports`` / ``forum.activity``
    ─► notifications; ``forum.accounts`` (ended sessions, role changes) ─► every service
Kafka ``moderation.decisions`` ─► handlers.DecisionsHandler ─► post status (per version), ``reply.published``
Kafka ``moderation.actions`` ─► handlers.ActionsHandler ─► post status, redactions, warnings, suspensions
sweeper.PendingSweeper ─► re-emits posts left pending too long (a safety net, not the path)
retention ─► purges expired refresh tokens
cli/ ─► admin commands (``python -m services.forum.cli.create_user``)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from services.common.errors import ConfigError
from services.common.handlers import Dispatch
from services.common.http.appkeys import TRUSTED_PROXIES, VERIFIER
from services.common.ratelimit import LoginGuard, RateLimiter
from services.common.resources import POOL, background_ctx, consumer_ctx, pool_ctx, producer_ctx, relay_ctx
from services.common.retention import Purge, retention_ctx
from services.common.service import service_app
from services.common.tokens import TokenSigner
from services.common.topics import MODERATION_ACTIONS, MODERATION_DECISIONS
from services.forum.appkeys import CONFIG, DECISIONS_CONSUMER, LIMITS, SIGNER, STORE, Limits
from services.forum.config import SCHEMA, ForumConfig
from services.forum.handlers import ActionsHandler, DecisionsHandler
from services.forum.queries import REFRESH_TOKEN_RETENTION
from services.forum.routes import setup_routes
from services.forum.store import ForumStore
from services.forum.sweeper import PendingSweeper

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"


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
                     topics=[MODERATION_DECISIONS, MODERATION_ACTIONS],
                     handler=lambda app: Dispatch(DecisionsHandler(), ActionsHandler())),
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
