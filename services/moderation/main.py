"""moderation service: the whole flow, readable top to bottom.

Kafka ``forum.posts`` ─► crisis screen, consumer group ``moderation-crisis`` (screen.py)
   └─► crisis rules + sentence encoder with learned heads (its own thread) ─► screening stored,
       escalation opened or upgraded at once, in the inbox transaction; never behind Detoxify
Kafka ``forum.posts`` / ``forum.reports`` ─► decision worker, group ``moderation-posts`` (worker.py)
   └─► PostHandler.prepare: rule detectors (crisis, abuse, sourcing, privacy, watched words),
       the screen's learned signals, Detoxify on the micro-batch (its own thread)
   └─► PostHandler.apply: the community's policy ─► decision (+ escalation, + queue item)
       and their events through the outbox, in the inbox transaction
MODERATION_CONSUMERS picks which of the two an instance runs (both by default).
policies: the shipped default (or POLICY_FILE) + per-community documents from PostgreSQL,
          loaded at start and re-read every POLICY_RELOAD_SECONDS
outbox relay ─► ``moderation.decisions`` (forum, notifications),
                ``moderation.escalations`` (notifications)
repager ─► re-pages open escalations nobody acknowledged (timers in PostgreSQL)
HTTP: the review queue (moderators), escalations (crisis staff), the audit log (admins)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.common.service import service_app
from services.common.resources import (
    accounts_consumer_ctx,
    POOL,
    background_ctx,
    consumer_ctx,
    pool_ctx,
    producer_ctx,
    relay_ctx,
)
from services.common.retention import retention_ctx
from services.common.topics import FORUM_POSTS, FORUM_REPORTS
from services.moderation.accounts import audit_role_change
from services.moderation.appkeys import CONFIG, CRISIS_CONSUMER, DESK, LEARNED, POSTS_CONSUMER, QUEUE, REPAGER, SCORER
from services.moderation.config import SCHEMA, ModerationConfig
from services.moderation.detectors.learned import LearnedScorer
from services.moderation.detectors.toxicity import ToxicityScorer
from services.moderation.escalations import EscalationDesk, Repager
from services.moderation.metrics import MODERATION_METRICS, install_metrics
from services.moderation.policies import POLICIES, PolicyHolder, PolicyReloader, load_book
from services.moderation.review import ReviewQueue
from services.moderation.routes import setup_routes
from services.moderation.screen import CONSUMER as CRISIS_SCREEN
from services.moderation.screen import CrisisScreen
from services.moderation.worker import Detectors, PostHandler

HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"


def create_app(config: ModerationConfig) -> web.Application:
    common = config.common
    app = service_app("moderation", config, CONFIG, HERE)
    screens, decides = "crisis" in config.consumers, "decisions" in config.consumers
    app.cleanup_ctx.extend([
        learned_ctx(config),
        *([scorer_ctx(config)] if decides else []),
        pool_ctx(common.database_url, SCHEMA, common.db_pool_min, common.db_pool_max),
        policies_ctx(config),
        store_ctx(config),
        producer_ctx(common.kafka_bootstrap_servers, f"{common.topic_prefix}moderation"),
        relay_ctx(common.database_url, SCHEMA, common.relay_poll_seconds),
        *([consumer_ctx(CRISIS_CONSUMER, common, group=CRISIS_SCREEN, topics=[FORUM_POSTS],
                        handler=lambda app: CrisisScreen(Detectors(None, app[LEARNED]), app[POLICIES],
                                                         config.crisis_repage_seconds, pool=app[POOL]),
                        batch_size=config.learned.encoder.batch_size, task="crisis-screen")] if screens else []),
        *([consumer_ctx(POSTS_CONSUMER, common, group="moderation-posts", topics=[FORUM_POSTS, FORUM_REPORTS],
                        handler=lambda app: PostHandler(Detectors(app[SCORER], app[LEARNED]), app[POLICIES],
                                                        config.crisis_repage_seconds, config.review, pool=app[POOL],
                                                        metrics=app[MODERATION_METRICS]),
                        batch_size=config.toxicity.batch_size)] if decides else []),
        # Ended sessions and role changes: every instance, whatever it screens; role changes are audited.
        accounts_consumer_ctx("moderation", common, on_role_changed=audit_role_change),
        background_ctx("repager", lambda app: _repager(app, config)),
        background_ctx("policy-reloader", lambda app: PolicyReloader(app[POOL], app[POLICIES],
                                                                     config.policy_reload_seconds)),
        retention_ctx(common),
    ])
    install_metrics(app, overdue_seconds=config.review.overdue_seconds)
    setup_routes(app)
    return app


def _repager(app: web.Application, config: ModerationConfig) -> Repager:
    app[REPAGER] = Repager(app[POOL], config.crisis_repage_seconds, tick_seconds=min(1.0, config.crisis_repage_seconds / 4))
    return app[REPAGER]


def learned_ctx(config: ModerationConfig):
    """Load and warm the sentence encoder and its heads once, in their own thread (the crisis path)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        learned = LearnedScorer(config.learned)
        await learned.start()
        app[LEARNED] = learned
        yield
        await learned.close()

    return ctx


def scorer_ctx(config: ModerationConfig):
    """Load and warm Detoxify once, in its worker thread, before consuming anything."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        scorer = ToxicityScorer.from_config(config.toxicity)
        await scorer.start()
        app[SCORER] = scorer
        yield
        await scorer.close()

    return ctx


def policies_ctx(config: ModerationConfig):
    """Every community's policy: the base from config, the stored documents merged on it."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[POLICIES] = PolicyHolder(await load_book(app[POOL], config.policy))
        yield

    return ctx


def store_ctx(config: ModerationConfig):
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[QUEUE] = ReviewQueue(app[POOL], config.review, config.crisis_repage_seconds)
        app[DESK] = EscalationDesk(app[POOL], config.crisis_repage_seconds)
        yield

    return ctx
