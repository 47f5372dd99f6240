"""notifications' configuration (environment variables; see README "Configuration")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.config import CommonConfig, EnvReader
from services.notifications.channels import DeliverySettings
from services.notifications.delivery import SmtpSettings
from services.notifications.rules import CrisisResources
from services.notifications.webhook_targets import parse_allowed_hosts

SCHEMA = "notifications"


@dataclass(frozen=True)
class NotificationsConfig:
    common: CommonConfig
    crisis_resources: CrisisResources
    delivery: DeliverySettings
    smtp: SmtpSettings
    heartbeat_seconds: float
    delivery_retention_days: int = 30

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "NotificationsConfig":
        env = EnvReader(environ)
        defaults = CrisisResources()
        smtp_host = env.optional("SMTP_HOST")
        username, password = env.optional("SMTP_USERNAME"), env.optional("SMTP_PASSWORD")
        starttls, implicit_tls = _tristate(env.optional("SMTP_STARTTLS")), _tristate(env.optional("SMTP_TLS")) is True
        config = cls(
            common=CommonConfig.read(env, default_port=8082),
            crisis_resources=CrisisResources(
                line=env.text("CRISIS_LINE_TEXT", defaults.line),
                emergency=env.text("CRISIS_EMERGENCY_TEXT", defaults.emergency),
            ),
            delivery=DeliverySettings(
                email_enabled=smtp_host is not None,
                queue_batch_seconds=env.number("QUEUE_BATCH_SECONDS", 30.0, minimum=0.0, maximum=3600),
                digest_hour_utc=env.integer("DIGEST_HOUR_UTC", 8, minimum=0, maximum=23),
                webhook_max_attempts=env.integer("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1, maximum=50),
                webhook_disable_after=env.integer("WEBHOOK_DISABLE_AFTER", 5, minimum=1, maximum=100),
                backoff_base_seconds=env.number("DELIVERY_BACKOFF_SECONDS", 1.0, minimum=0.01, maximum=600),
                backoff_max_seconds=env.number("DELIVERY_BACKOFF_MAX_SECONDS", 300.0, minimum=0.1, maximum=86400),
                lease_seconds=env.number("DELIVERY_LEASE_SECONDS", 30.0, minimum=1.0, maximum=3600),
                timeout_seconds=env.number("DELIVERY_TIMEOUT_SECONDS", 10.0, minimum=0.5, maximum=120),
                webhook_allowed_hosts=_allowed_hosts(env),
            ),
            smtp=SmtpSettings(
                host=smtp_host,
                port=env.integer("SMTP_PORT", 25, minimum=1, maximum=65535),
                username=username,
                password=password,
                starttls=_starttls(starttls, implicit_tls, username),
                implicit_tls=implicit_tls,
                sender=env.text("SMTP_FROM", "Haven <no-reply@haven.invalid>"),
                public_base_url=env.text("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
            ),
            heartbeat_seconds=env.number("SSE_HEARTBEAT_SECONDS", 15.0, minimum=0.5, maximum=300),
            delivery_retention_days=env.integer("DELIVERY_RETENTION_DAYS", 30, minimum=1, maximum=3650),
        )
        if config.delivery.lease_seconds <= config.delivery.timeout_seconds:
            env.problems.append("DELIVERY_LEASE_SECONDS must exceed DELIVERY_TIMEOUT_SECONDS "
                                "(a lease must outlast the send it covers)")
        env.problems.extend(_smtp_problems(username, password, starttls, implicit_tls))
        env.raise_if_problems()
        return config


def _allowed_hosts(env: EnvReader) -> frozenset[str]:
    """``WEBHOOK_ALLOWED_HOSTS``: hosts exempt from the public-address rule for webhooks."""
    try:
        return parse_allowed_hosts(env.optional("WEBHOOK_ALLOWED_HOSTS"))
    except ValueError as e:
        env.problems.append(f"WEBHOOK_ALLOWED_HOSTS names host names, comma-separated: {e}")
        return frozenset()


def _starttls(starttls: bool | None, implicit_tls: bool, username: str | None) -> bool | None:
    """With credentials, "STARTTLS if offered" becomes required: a man in the middle can strip the offer."""
    if implicit_tls:
        return False  # already inside TLS
    if username is not None and starttls is None:
        return True
    return starttls


def _smtp_problems(username: str | None, password: str | None, starttls: bool | None,
                   implicit_tls: bool) -> list[str]:
    """Credentials never travel in clear: a username needs TLS (STARTTLS or implicit)."""
    problems = []
    if implicit_tls and starttls is True:
        problems.append("SMTP_TLS and SMTP_STARTTLS are two ways to use TLS: set only one of them")
    if password is not None and username is None:
        problems.append("SMTP_PASSWORD is set without SMTP_USERNAME")
    if username is not None and not implicit_tls and starttls is False:
        problems.append("SMTP_USERNAME needs TLS, so that the password never travels in clear: "
                        "set SMTP_STARTTLS=true (or leave it unset) or SMTP_TLS=true")
    return problems


def _tristate(raw: str | None) -> bool | None:
    if raw is None:
        return None
    return raw.lower() in ("1", "true", "yes")
