"""Typed keys of moderation's application state."""

from aiohttp import web

from services.common.consumer import ConsumerLoop
from services.moderation.config import ModerationConfig
from services.moderation.detectors.toxicity import ToxicityScorer
from services.moderation.store import ModerationStore

CONFIG = web.AppKey("config", ModerationConfig)
STORE = web.AppKey("store", ModerationStore)
SCORER = web.AppKey("toxicity_scorer", ToxicityScorer)
POSTS_CONSUMER = web.AppKey("posts_consumer", ConsumerLoop)
