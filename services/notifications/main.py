"""notifications service: the whole flow, readable top to bottom.

Kafka ``moderation.decisions`` / ``.escalations`` / ``.actions``, ``forum.activity`` ─► ConsumerLoop
   └─► NotificationHandler: rules.plan(event) ─► notification rows + their deliveries
       (one per channel and target), in the inbox transaction; NOTIFY on commit
Broadcaster (LISTEN) ─► SSE streams of connected members, moderators, crisis staff
DeliveryWorker ─► leased deliveries ─► signed webhooks and SMTP e-mail, with retries
HTTP: the in-app list, unread count, mark read, preferences, rota, webhooks, /v1/stream
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from services.common.consumer import ConsumerLoop
from services.common.http import new_app
from services.common.resources import (
    POOL,
    PRODUCER,
    TOPICS,
    background_ctx,
    consumer_ctx,
    pool_ctx,
    producer_ctx,
)
from services.common.retention import Purge, retention_ctx
from services.common.tokens import TokenVerifier
from services.common.topics import (
    FORUM_ACCOUNTS,
    FORUM_ACTIVITY,
    FORUM_REPORTS,
    MODERATION_ACTIONS,
    MODERATION_DECISIONS,
    MODERATION_ESCALATIONS,
    TopicNames,
)
from services.notifications.accounts import accounts_handler
from services.notifications.appkeys import BROADCASTER, CONFIG, DELIVERY, EVENTS_CONSUMER, STORE, WEBHOOKS
from services.notifications.config import SCHEMA, NotificationsConfig
from services.notifications.delivery import DeliveryWorker
from services.notifications.queries import DELIVERY_RETENTION
from services.notifications.routes import setup_routes
from services.notifications.store import NotificationHandler, NotificationStore, WebhookRegistry
from services.notifications.stream import Broadcaster
from services.notifications.webhook_targets import WebhookTargets

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"
ACCOUNTS_CONSUMER = web.AppKey("accounts_consumer", ConsumerLoop)


def create_app(config: NotificationsConfig) -> web.Application:
    common = config.common
    app = new_app(service="notifications", openapi=HERE / "openapi.yaml",
                  verifier=TokenVerifier.from_file(common.token_public_key_file),
                  cors_origins=common.cors_allowed_origins)
    app[CONFIG] = config
    app[TOPICS] = TopicNames(common.topic_prefix)
    app.cleanup_ctx.extend([
        pool_ctx(common.database_url, SCHEMA, common.db_pool_min, common.db_pool_max),
        stores_ctx(),
        broadcaster_ctx(common.database_url),
        producer_ctx(common.kafka_bootstrap_servers, f"{common.topic_prefix}notifications"),
        consumer_ctx(EVENTS_CONSUMER, lambda app: ConsumerLoop(
            name="notifications-events", pool=app[POOL], bootstrap_servers=common.kafka_bootstrap_servers,
            topic_names=app[TOPICS],
            topics=[MODERATION_DECISIONS, MODERATION_ESCALATIONS, MODERATION_ACTIONS, FORUM_ACTIVITY, FORUM_REPORTS],
            handler=NotificationHandler(config.crisis_resources, config.delivery), producer=app[PRODUCER],
            max_attempts=common.consumer_max_attempts)),
        # Ended sessions and role changes (services/common/sessions.py); paging follows the role.
        consumer_ctx(ACCOUNTS_CONSUMER, lambda app: ConsumerLoop(
            name="notifications-accounts", pool=app[POOL], bootstrap_servers=common.kafka_bootstrap_servers,
            topic_names=app[TOPICS], topics=[FORUM_ACCOUNTS], handler=accounts_handler(), producer=app[PRODUCER],
            max_attempts=common.consumer_max_attempts), task="accounts-consumer"),
        background_ctx("delivery", lambda app: _delivery_worker(app, config)),
        retention_ctx(common, Purge("deliveries", DELIVERY_RETENTION, timedelta(days=config.delivery_retention_days))),
    ])
    setup_routes(app)
    return app


def _delivery_worker(app: web.Application, config: NotificationsConfig) -> DeliveryWorker:
    app[DELIVERY] = DeliveryWorker(pool=app[POOL], dsn=config.common.database_url, settings=config.delivery,
                                   smtp=config.smtp, poll_seconds=min(1.0, config.delivery.lease_seconds / 2))
    return app[DELIVERY]


def stores_ctx():
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[STORE] = NotificationStore(app[POOL])
        app[WEBHOOKS] = WebhookRegistry(app[POOL], WebhookTargets(app[CONFIG].delivery.webhook_allowed_hosts))
        yield

    return ctx


async def _end_streams(broadcaster: Broadcaster) -> None:
    broadcaster.shutdown()


def broadcaster_ctx(dsn: str):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        broadcaster = Broadcaster(dsn)
        await broadcaster.start()
        app[BROADCASTER] = broadcaster
        app.on_shutdown.append(lambda _app: _end_streams(broadcaster))
        yield
        await broadcaster.close()

    return ctx
