"""notifications service: the whole flow, readable top to bottom.

Kafka ``moderation.decisions`` / ``.escalations`` / ``.actions`` ─► ConsumerLoop
   └─► NotificationHandler: rules.plan(event) ─► notification rows (inbox transaction)
HTTP: ``GET /v1/notifications`` — the caller's own, and those for their role
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.common.consumer import ConsumerLoop
from services.common.http import authenticate, new_app
from services.common.resources import POOL, PRODUCER, TOPICS, consumer_ctx, pool_ctx, producer_ctx
from services.common.tokens import TokenVerifier
from services.common.topics import MODERATION_ACTIONS, MODERATION_DECISIONS, MODERATION_ESCALATIONS, TopicNames
from services.notifications.config import SCHEMA, NotificationsConfig
from services.notifications.store import NotificationHandler, NotificationStore

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"

STORE = web.AppKey("store", NotificationStore)
EVENTS_CONSUMER = web.AppKey("events_consumer", ConsumerLoop)


async def list_notifications(request: web.Request) -> web.Response:
    principal = authenticate(request)
    return web.json_response({"items": await request.app[STORE].list_for(principal)})


def create_app(config: NotificationsConfig) -> web.Application:
    common = config.common
    app = new_app(service="notifications", openapi=HERE / "openapi.yaml",
                  verifier=TokenVerifier.from_file(common.token_public_key_file))
    app[TOPICS] = TopicNames(common.topic_prefix)
    app.cleanup_ctx.extend([
        pool_ctx(common.database_url, SCHEMA, common.db_pool_min, common.db_pool_max),
        store_ctx(),
        producer_ctx(common.kafka_bootstrap_servers, f"{common.topic_prefix}notifications"),
        consumer_ctx(EVENTS_CONSUMER, lambda app: ConsumerLoop(
            name="notifications-events", pool=app[POOL], bootstrap_servers=common.kafka_bootstrap_servers,
            topic_names=app[TOPICS], topics=[MODERATION_DECISIONS, MODERATION_ESCALATIONS, MODERATION_ACTIONS],
            handler=NotificationHandler(config.crisis_resources), producer=app[PRODUCER],
            max_attempts=common.consumer_max_attempts)),
    ])
    app.router.add_get("/v1/notifications", list_notifications)
    return app


def store_ctx():
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[STORE] = NotificationStore(app[POOL])
        yield

    return ctx
