"""Typed keys of moderation's application state."""

from aiohttp import web

from services.common.consumer import ConsumerLoop
from services.moderation.config import ModerationConfig
from services.moderation.detectors.learned import LearnedScorer
from services.moderation.detectors.toxicity import ToxicityScorer
from services.moderation.escalations import EscalationDesk, Repager
from services.moderation.review import ReviewQueue

CONFIG = web.AppKey("config", ModerationConfig)
QUEUE = web.AppKey("review_queue", ReviewQueue)
DESK = web.AppKey("escalation_desk", EscalationDesk)
REPAGER = web.AppKey("repager", Repager)
SCORER = web.AppKey("toxicity_scorer", ToxicityScorer)
POSTS_CONSUMER = web.AppKey("posts_consumer", ConsumerLoop)
LEARNED = web.AppKey("learned_scorer", LearnedScorer)
CRISIS_CONSUMER = web.AppKey("crisis_consumer", ConsumerLoop)
