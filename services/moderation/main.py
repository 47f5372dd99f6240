"""moderation service: the whole flow, readable top to bottom.

Kafka ``forum.posts`` ─► crisis screen, consumer group ``moderation-crisis`` (handlers.CrisisScreenHandler)
   └─► prepare: crisis rules + sentence encoder with learned heads (its own thread, detectors/)
   └─► on_post_created / on_post_edited: screening stored, escalation opened or upgraded at once
       (escalations.open_escalation), in the inbox transaction; never behind Detoxify
Kafka ``forum.posts`` / ``forum.reports`` ─► decision worker, group ``moderation-posts``:
   Dispatch(handlers.PostsHandler, handlers.ReportsHandler)
   └─► PostsHandler.prepare: rule detectors (crisis, abuse, sourcing, privacy, watched words),
       the screen's stored learned signals, Detoxify on the micro-batch (its own thread)
   └─► PostsHandler.on_post_*: the community's policy (policy.decide) ─► decision (+ escalation,
       + queue item) and their events (events.py) through the outbox, in the inbox transaction
   └─► ReportsHandler.on_report_created / on_appeal_created: weighted reports and appeals into the queue
MODERATION_CONSUMERS picks which of the two an instance runs (both by default).
Kafka ``forum.accounts`` ─► ended sessions and role changes, on every instance; role changes audited
policies (policy_book.py): the shipped default (or POLICY_FILE) + per-community documents from
          PostgreSQL, loaded at start and re-read every POLICY_RELOAD_SECONDS (PolicyReloader)
outbox relay ─► ``moderation.decisions`` (forum, notifications),
                ``moderation.escalations`` (notifications), ``moderation.actions`` (forum, notifications)
repager (escalations.Repager) ─► re-pages open escalations nobody acknowledged (timers in PostgreSQL)
HTTP (routes.py ─► views.py ─► review.py / escalations.py ─► queries.py): the review queue (moderators),
     escalations (crisis staff), the audit log and lifting suspensions (admins)
Tools: ``python -m services.moderation.cli.<command>`` (cli/: classify, replay, policies, train,
       prepare_offline)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from services.common.handlers import Dispatch
from services.common.resources import (
    POOL,
    accounts_consumer_ctx,
    background_ctx,
    consumer_ctx,
    pool_ctx,
    producer_ctx,
    relay_ctx,
)
from services.common.retention import retention_ctx
from services.common.service import service_app
from services.common.topics import FORUM_POSTS, FORUM_REPORTS
from services.moderation.appkeys import (
    CONFIG,
    CRISIS_CONSUMER,
    CRISIS_SCREEN,
    DESK,
    LEARNED,
    MODERATION_METRICS,
    POLICIES,
    POSTS_CONSUMER,
    QUEUE,
    SCORER,
)
from services.moderation.config import SCHEMA, ModerationConfig
from services.moderation.detectors.learned import LearnedScorer
from services.moderation.detectors.pipeline import Detectors
from services.moderation.detectors.toxicity import ToxicityScorer
from services.moderation.escalations import EscalationDesk, Repager
from services.moderation.handlers import CrisisScreenHandler, PostsHandler, ReportsHandler, audit_role_change
from services.moderation.metrics import install_metrics
from services.moderation.policy_book import PolicyHolder, PolicyReloader, load_book
from services.moderation.review import ReviewQueue
from services.moderation.routes import setup_routes

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"


def create_app(config: ModerationConfig) -> web.Application:
    common = config.common
    app = service_app("moderation", config, CONFIG, HERE)
    screens, decides = "crisis" in config.consumers, "decisions" in config.consumers
    app.cleanup_ctx.extend([
        # The encoder and its heads (every instance: the crisis path), Detoxify (the decision worker only).
        model_ctx(LEARNED, lambda: LearnedScorer(config.learned)),
        *([model_ctx(SCORER, lambda: ToxicityScorer.from_config(config.toxicity))] if decides else []),
        pool_ctx(common.database_url, SCHEMA, common.db_pool_min, common.db_pool_max),
        policies_ctx(config),
        store_ctx(config),
        producer_ctx(common.kafka_bootstrap_servers, f"{common.topic_prefix}moderation"),
        relay_ctx(common.database_url, SCHEMA, common.relay_poll_seconds),
        *([consumer_ctx(CRISIS_CONSUMER, common, group="moderation-crisis", topics=[FORUM_POSTS],
                        handler=lambda app: Dispatch(_crisis_screen(app, config)),
                        batch_size=config.learned.encoder.batch_size, task="crisis-screen")] if screens else []),
        *([consumer_ctx(POSTS_CONSUMER, common, group="moderation-posts", topics=[FORUM_POSTS, FORUM_REPORTS],
                        handler=lambda app: Dispatch(
                            PostsHandler(Detectors(app[SCORER], app[LEARNED]), app[POLICIES],
                                         config.crisis_repage_seconds, pool=app[POOL],
                                         metrics=app[MODERATION_METRICS]),
                            ReportsHandler(config.review)),
                        batch_size=config.toxicity.batch_size)] if decides else []),
        # Ended sessions and role changes: every instance, whatever it screens; role changes are audited.
        accounts_consumer_ctx("moderation", common, on_role_changed=audit_role_change),
        background_ctx("repager", lambda app: Repager(app[POOL], config.crisis_repage_seconds,
                                                      tick_seconds=min(1.0, config.crisis_repage_seconds / 4))),
        background_ctx("policy-reloader", lambda app: PolicyReloader(app[POOL], app[POLICIES],
                                                                     config.policy_reload_seconds)),
        retention_ctx(common),
    ])
    app[MODERATION_METRICS] = install_metrics(app, overdue_seconds=config.review.overdue_seconds)
    setup_routes(app)
    return app


def _crisis_screen(app: web.Application, config: ModerationConfig) -> CrisisScreenHandler:
    """The screen reads no Detoxify (``Detectors(None, ...)``): rules and the encoder only."""
    app[CRISIS_SCREEN] = CrisisScreenHandler(Detectors(None, app[LEARNED]), app[POLICIES],
                                             config.crisis_repage_seconds, pool=app[POOL])
    return app[CRISIS_SCREEN]


def model_ctx(key: web.AppKey[LearnedScorer] | web.AppKey[ToxicityScorer],
              build: Callable[[], LearnedScorer | ToxicityScorer]):
    """Load and warm a model once, in its own thread, before consuming anything; close it at the end."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        model = build()
        await model.start()
        app[key] = model  # type: ignore[index] - the key is the model's own
        yield
        await model.close()

    return ctx


def policies_ctx(config: ModerationConfig):
    """Every community's policy: the base from config, the stored documents merged on it."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[POLICIES] = PolicyHolder(await load_book(app[POOL], config.policy))
        yield

    return ctx


def store_ctx(config: ModerationConfig):
    """The review queue (moderators) and the escalation desk (crisis staff), over the pool."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[QUEUE] = ReviewQueue(app[POOL], config.review, config.crisis_repage_seconds)
        app[DESK] = EscalationDesk(app[POOL], config.crisis_repage_seconds)
        yield

    return ctx
