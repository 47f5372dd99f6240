"""Configuration from environment variables, validated once at start.

Nothing here runs at import time: each service calls ``<Service>Config.from_env``
in its entry point and passes the frozen dataclass down. Every problem found is
reported, one line each, in a single :class:`ConfigError`, so an operator fixes
them all in one go instead of one restart per typo.
"""

from __future__ import annotations

import ipaddress
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

    def networks(self, name: str, raw: str) -> tuple[IPNetwork, ...]:
        """``raw`` (read with ``text(name, "")``): comma-separated IP addresses and CIDR networks; empty: none."""
        try:
            return parse_networks(raw)
        except ValueError as e:
            self.problems.append(f"{name}: {e}")
            return ()

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


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str) -> tuple[IPNetwork, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` ⇒ networks (a bare address is a /32 or /128); ValueError names a bad entry.

    A network with host bits set (``10.0.0.1/8``) is refused: it is more likely a typo than meant.
    """
    found: list[IPNetwork] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=True)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or a CIDR network like 10.0.0.0/8") from None
        if network not in found:
            found.append(network)
    return tuple(found)


# Inbox rows must outlive every event Kafka can still (re)deliver: see ``inbox_retention_minimum_days``.
INBOX_RETENTION_DEFAULT_DAYS = 45


def inbox_retention_minimum_days() -> int:
    """More days than the longest ``retention.ms`` of any topic in ``topics.yaml`` (DLQs included).

    A consumer's inbox row is what makes a redelivered event a no-op; a row deleted while Kafka can still
    hand the event back (a consumer group reset, a replay from a DLQ) would apply it twice.
    """
    from services.common.topics import load_topics  # read here, at start, never at import time

    longest_ms = max((int(spec.configs.get("retention.ms", 0)) for spec in load_topics()), default=0)
    return math.ceil(longest_ms / 86_400_000) + 1


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
    # Peers whose X-Forwarded-For is believed (services/common/http/addresses.py); empty: none.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # Retention (services/common/retention.py): inbox rows older than this are deleted.
    inbox_retention_days: int = INBOX_RETENTION_DEFAULT_DAYS
    retention_interval_seconds: float = 3600.0
    retention_batch_size: int = 1000

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
            trusted_proxies=env.networks("TRUSTED_PROXIES", env.text("TRUSTED_PROXIES", "")),
            inbox_retention_days=env.integer("INBOX_RETENTION_DAYS", INBOX_RETENTION_DEFAULT_DAYS, minimum=1),
            retention_interval_seconds=env.number("RETENTION_INTERVAL_SECONDS", 3600.0, minimum=1, maximum=86400),
            retention_batch_size=env.integer("RETENTION_BATCH_SIZE", 1000, minimum=1, maximum=100_000),
        )
        if config.inbox_retention_days < (minimum := inbox_retention_minimum_days()):
            env.problems.append(f"INBOX_RETENTION_DAYS ({config.inbox_retention_days}) must be >= {minimum}: "
                                "longer than the longest topic retention, or a redelivered event applies twice")
        if config.db_pool_min > config.db_pool_max:
            env.problems.append(f"DB_POOL_MIN ({config.db_pool_min}) must not exceed DB_POOL_MAX ({config.db_pool_max})")
        return config
