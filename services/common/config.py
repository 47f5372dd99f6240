"""Configuration from environment variables, validated once at start.

Nothing here runs at import time: each service calls ``<Service>Config.from_env``
in its entry point and passes the frozen dataclass down. Every problem found is
reported, one line each, in a single :class:`ConfigError`, so an operator fixes
them all in one go instead of one restart per typo.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import ConfigError


class EnvReader:
    """Reads typed values from a mapping and collects every problem it sees."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if required or default is None:
            self.problems.append(f"{name} is required")
            return ""
        return default

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name} must be an integer, got {raw!r}")
            return default
        return self._bounded(name, value, minimum, maximum, default)

    def number(self, name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self.problems.append(f"{name} must be a finite number, got {raw!r}")
            return default
        return self._bounded(name, value, minimum, maximum, default)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in choices:
            self.problems.append(f"{name} must be one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def origins(self, name: str) -> tuple[str, ...]:
        """A comma-separated allow-list of exact web origins (``scheme://host[:port]``); empty means none.

        A wildcard is refused: the services answer credentialed requests, so every origin is named.
        """
        found: list[str] = []
        for raw in self._environ.get(name, "").split(","):
            origin = raw.strip()
            if not origin:
                continue
            scheme, sep, rest = origin.partition("://")
            if origin == "*" or "*" in origin:
                self.problems.append(f"{name} must name exact origins, not a wildcard ({origin!r})")
            elif scheme not in ("http", "https") or not sep or not rest or "/" in rest or rest != rest.strip():
                self.problems.append(f"{name}: {origin!r} is not an origin like https://haven.example.org")
            elif origin.lower() not in found:
                found.append(origin.lower())
        return tuple(found)

    def existing_file(self, name: str, *, required: bool = True) -> Path | None:
        raw = self.optional(name)
        if raw is None:
            if required:
                self.problems.append(f"{name} is required (a file path)")
            return None
        path = Path(raw)
        if not path.is_file():
            self.problems.append(f"{name} names {raw!r}, which is not a readable file")
            return None
        return path

    def _bounded(self, name, value, minimum, maximum, default):
        if minimum is not None and value < minimum:
            self.problems.append(f"{name} must be >= {minimum}, got {value}")
            return default
        if maximum is not None and value > maximum:
            self.problems.append(f"{name} must be <= {maximum}, got {value}")
            return default
        return value

    def raise_if_problems(self) -> None:
        if self.problems:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class CommonConfig:
    """Settings every service shares."""

    database_url: str
    kafka_bootstrap_servers: str
    topic_prefix: str
    http_host: str
    http_port: int
    token_public_key_file: Path
    db_pool_min: int
    db_pool_max: int
    log_level: str
    relay_poll_seconds: float
    consumer_max_attempts: int
    cors_allowed_origins: tuple[str, ...] = ()

    @classmethod
    def read(cls, env: EnvReader, *, default_port: int) -> "CommonConfig":
        config = cls(
            database_url=env.text("DATABASE_URL", required=True),
            kafka_bootstrap_servers=env.text("KAFKA_BOOTSTRAP_SERVERS", required=True),
            topic_prefix=env.text("HAVEN_TOPIC_PREFIX", ""),
            http_host=env.text("HTTP_HOST", "127.0.0.1"),
            http_port=env.integer("HTTP_PORT", default_port, minimum=0, maximum=65535),
            token_public_key_file=env.existing_file("TOKEN_PUBLIC_KEY_FILE") or Path(),
            db_pool_min=env.integer("DB_POOL_MIN", 1, minimum=1),
            db_pool_max=env.integer("DB_POOL_MAX", 10, minimum=1, maximum=200),
            log_level=env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            relay_poll_seconds=env.number("OUTBOX_POLL_SECONDS", 1.0, minimum=0.05, maximum=60),
            consumer_max_attempts=env.integer("CONSUMER_MAX_ATTEMPTS", 5, minimum=1, maximum=100),
            cors_allowed_origins=env.origins("CORS_ALLOWED_ORIGINS"),
        )
        if config.db_pool_min > config.db_pool_max:
            env.problems.append(f"DB_POOL_MIN ({config.db_pool_min}) must not exceed DB_POOL_MAX ({config.db_pool_max})")
        return config
