"""notifications' configuration (environment variables; see README "Configuration")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.config import CommonConfig, EnvReader
from services.notifications.channels import DeliverySettings
from services.notifications.delivery import SmtpSettings
from services.notifications.rules import CrisisResources

SCHEMA = "notifications"


@dataclass(frozen=True)
class NotificationsConfig:
    common: CommonConfig
    crisis_resources: CrisisResources
    delivery: DeliverySettings
    smtp: SmtpSettings
    heartbeat_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "NotificationsConfig":
        env = EnvReader(environ)
        defaults = CrisisResources()
        smtp_host = env.optional("SMTP_HOST")
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
            ),
            smtp=SmtpSettings(
                host=smtp_host,
                port=env.integer("SMTP_PORT", 25, minimum=1, maximum=65535),
                username=env.optional("SMTP_USERNAME"),
                password=env.optional("SMTP_PASSWORD"),
                starttls=_tristate(env.optional("SMTP_STARTTLS")),
                implicit_tls=_tristate(env.optional("SMTP_TLS")) is True,
                sender=env.text("SMTP_FROM", "Haven <no-reply@haven.invalid>"),
                public_base_url=env.text("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
            ),
            heartbeat_seconds=env.number("SSE_HEARTBEAT_SECONDS", 15.0, minimum=0.5, maximum=300),
        )
        if config.delivery.lease_seconds <= config.delivery.timeout_seconds:
            env.problems.append("DELIVERY_LEASE_SECONDS must exceed DELIVERY_TIMEOUT_SECONDS "
                                "(a lease must outlast the send it covers)")
        env.raise_if_problems()
        return config


def _tristate(raw: str | None) -> bool | None:
    if raw is None:
        return None
    return raw.lower() in ("1", "true", "yes")
