"""Typed keys of forum's application state."""

from dataclasses import dataclass

from aiohttp import web

from services.common.consumer import ConsumerLoop
from services.common.ratelimit import LoginGuard, RateLimiter
from services.common.tokens import TokenSigner
from services.forum.config import ForumConfig
from services.forum.store import ForumStore


@dataclass
class Limits:
    """Per-instance rate limits (in memory; client addresses never leave it)."""

    posts: RateLimiter
    reports: RateLimiter
    logins: LoginGuard
    registrations: RateLimiter


CONFIG = web.AppKey("config", ForumConfig)
STORE = web.AppKey("store", ForumStore)
SIGNER = web.AppKey("signer", TokenSigner)
LIMITS = web.AppKey("limits", Limits)
DECISIONS_CONSUMER = web.AppKey("decisions_consumer", ConsumerLoop)
