"""notifications service: the whole flow, readable top to bottom.

Kafka ``moderation.decisions`` / ``.escalations`` / ``.actions``, ``forum.activity`` / ``forum.reports``
   ─► consumer group ``notifications-events``: Dispatch(handlers.DecisionsHandler, EscalationsHandler,
      ActionsHandler, ActivityHandler, ReportsHandler)
   └─► on_<event type>: rules.plan(event) (who is told what; pure) ─► store.store_notification: the
       notification row and its deliveries (channels.plan_deliveries: one per channel and target), in
       the inbox transaction; NOTIFY on commit. ActionsHandler also applies suspensions to this
       service's tokens (services/common/suspensions.py)
Kafka ``forum.accounts`` ─► ended sessions, role changes (handlers.follow_role_change: paging follows the role)
stream.Broadcaster (LISTEN) ─► SSE streams of connected members, moderators, crisis staff
delivery.DeliveryWorker (woken by NOTIFY, polls as a fallback) ─► leased deliveries ─► signed webhooks
   (webhook_targets.py: public addresses only) and SMTP e-mail, with retries
retention ─► purges sent deliveries
HTTP request ─► routes ─► views (parse, validate, shape JSON) ─► store.py (notifications, read marks,
   preferences, rota) / webhooks.py (the webhook registry) ─► queries (SQL)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from services.common.handlers import Dispatch
from services.common.resources import POOL, accounts_consumer_ctx, background_ctx, consumer_ctx, pool_ctx, producer_ctx
from services.common.retention import Purge, retention_ctx
from services.common.service import service_app
from services.common.topics import (
    FORUM_ACTIVITY,
    FORUM_REPORTS,
    MODERATION_ACTIONS,
    MODERATION_DECISIONS,
    MODERATION_ESCALATIONS,
)
from services.notifications.appkeys import BROADCASTER, CONFIG, DELIVERY, EVENTS_CONSUMER, STORE, WEBHOOKS
from services.notifications.config import SCHEMA, NotificationsConfig
from services.notifications.delivery import DeliveryWorker
from services.notifications.handlers import (
    ActionsHandler,
    ActivityHandler,
    DecisionsHandler,
    EscalationsHandler,
    ReportsHandler,
    follow_role_change,
)
from services.notifications.queries import DELIVERY_RETENTION
from services.notifications.routes import setup_routes
from services.notifications.store import NotificationStore
from services.notifications.stream import Broadcaster
from services.notifications.webhook_targets import WebhookTargets
from services.notifications.webhooks import WebhookRegistry

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"


def create_app(config: NotificationsConfig) -> web.Application:
    common = config.common
    app = service_app("notifications", config, CONFIG, HERE)
    resources, settings = config.crisis_resources, config.delivery
    app.cleanup_ctx.extend([
        pool_ctx(common.database_url, SCHEMA, common.db_pool_min, common.db_pool_max),
        stores_ctx(),
        broadcaster_ctx(common.database_url),
        producer_ctx(common.kafka_bootstrap_servers, f"{common.topic_prefix}notifications"),
        consumer_ctx(EVENTS_CONSUMER, common, group="notifications-events",
                     topics=[MODERATION_DECISIONS, MODERATION_ESCALATIONS, MODERATION_ACTIONS, FORUM_ACTIVITY,
                             FORUM_REPORTS],
                     handler=lambda app: Dispatch(
                         DecisionsHandler(resources, settings), EscalationsHandler(resources, settings),
                         ActionsHandler(resources, settings), ActivityHandler(resources, settings),
                         ReportsHandler(resources, settings))),
        # Ended sessions and role changes; paging follows the role.
        accounts_consumer_ctx("notifications", common, on_role_changed=follow_role_change),
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
