"""forum's configuration (environment variables; see README "Configuration")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.config import CommonConfig, EnvReader

SCHEMA = "forum"


@dataclass(frozen=True)
class ForumConfig:
    common: CommonConfig
    token_private_key_file: Path
    access_token_ttl_seconds: int
    refresh_token_ttl_days: int
    post_max_chars: int
    title_max_chars: int
    pending_sweep_seconds: float
    posts_per_minute: int
    reports_per_minute: int
    auth_attempts_per_minute: int
    registrations_per_hour: int
    auth_failures_per_handle_per_hour: int = 100
    known_login_address_days: int = 30
    refresh_token_retention_days: int = 7

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ForumConfig":
        env = EnvReader(environ)
        config = cls(
            common=CommonConfig.read(env, default_port=8080),
            token_private_key_file=env.existing_file("TOKEN_PRIVATE_KEY_FILE") or Path(),
            access_token_ttl_seconds=env.integer("ACCESS_TOKEN_TTL_SECONDS", 900, minimum=30, maximum=3600),
            refresh_token_ttl_days=env.integer("REFRESH_TOKEN_TTL_DAYS", 30, minimum=1, maximum=365),
            post_max_chars=env.integer("POST_MAX_CHARS", 10000, minimum=100, maximum=50000),
            title_max_chars=env.integer("TITLE_MAX_CHARS", 200, minimum=10, maximum=1000),
            pending_sweep_seconds=env.number("PENDING_SWEEP_SECONDS", 60.0, minimum=0.5),
            posts_per_minute=env.integer("POSTS_PER_MINUTE", 20, minimum=1),
            reports_per_minute=env.integer("REPORTS_PER_MINUTE", 10, minimum=1),
            auth_attempts_per_minute=env.integer("AUTH_ATTEMPTS_PER_MINUTE", 10, minimum=1),
            registrations_per_hour=env.integer("REGISTRATIONS_PER_HOUR", 20, minimum=1),
            auth_failures_per_handle_per_hour=env.integer("AUTH_FAILURES_PER_HANDLE_PER_HOUR", 100, minimum=1),
            known_login_address_days=env.integer("KNOWN_LOGIN_ADDRESS_DAYS", 30, minimum=0, maximum=365),
            refresh_token_retention_days=env.integer("REFRESH_TOKEN_RETENTION_DAYS", 7, minimum=0, maximum=3650),
        )
        env.raise_if_problems()
        return config
