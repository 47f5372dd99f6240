"""Typed keys of moderation's application state."""

from aiohttp import web

from services.common.consumer import ConsumerLoop
from services.moderation.config import ModerationConfig
from services.moderation.detectors.learned import LearnedScorer
from services.moderation.detectors.toxicity import ToxicityScorer
from services.moderation.escalations import EscalationDesk
from services.moderation.handlers import CrisisScreenHandler
from services.moderation.metrics import ModerationMetrics
from services.moderation.policy_book import PolicyHolder
from services.moderation.review import ReviewQueue

CONFIG = web.AppKey("config", ModerationConfig)
QUEUE = web.AppKey("review_queue", ReviewQueue)
DESK = web.AppKey("escalation_desk", EscalationDesk)
POLICIES = web.AppKey("policies", PolicyHolder)
SCORER = web.AppKey("toxicity_scorer", ToxicityScorer)
LEARNED = web.AppKey("learned_scorer", LearnedScorer)
POSTS_CONSUMER = web.AppKey("posts_consumer", ConsumerLoop)
CRISIS_CONSUMER = web.AppKey("crisis_consumer", ConsumerLoop)
CRISIS_SCREEN = web.AppKey("crisis_screen", CrisisScreenHandler)
MODERATION_METRICS = web.AppKey("moderation_metrics", ModerationMetrics)
