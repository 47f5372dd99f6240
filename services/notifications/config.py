"""notifications' configuration (environment variables; see README "Configuration")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.config import CommonConfig, EnvReader
from services.notifications.rules import CrisisResources

SCHEMA = "notifications"


@dataclass(frozen=True)
class NotificationsConfig:
    common: CommonConfig
    crisis_resources: CrisisResources

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "NotificationsConfig":
        env = EnvReader(environ)
        defaults = CrisisResources()
        config = cls(
            common=CommonConfig.read(env, default_port=8082),
            crisis_resources=CrisisResources(
                line=env.text("CRISIS_LINE_TEXT", defaults.line),
                emergency=env.text("CRISIS_EMERGENCY_TEXT", defaults.emergency),
            ),
        )
        env.raise_if_problems()
        return config
