"""moderation's configuration (environment variables; see README "Configuration")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.config import CommonConfig, EnvReader
from services.moderation.detectors.toxicity import ToxicityConfig
from services.moderation.policy import Policy

SCHEMA = "moderation"
DEFAULT_REMOVAL_REASONS = ("harassment", "hate", "sourcing", "privacy", "spam", "graphic_method_detail",
                           "misinformation", "other")


@dataclass(frozen=True)
class ReviewSettings:
    """The review queue's rules (data, not code branches)."""

    claim_seconds: int = 600
    overdue_seconds: int = 3600
    report_hide_threshold: float = 3.0
    new_account_hours: float = 24.0
    removal_reasons: tuple[str, ...] = DEFAULT_REMOVAL_REASONS
    suspension_steps_days: tuple[int, ...] = (1, 3, 7, 30)
DETOXIFY_MODELS = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")


@dataclass(frozen=True)
class ModerationConfig:
    common: CommonConfig
    toxicity: ToxicityConfig
    policy: Policy
    crisis_repage_seconds: int
    review: ReviewSettings = ReviewSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ModerationConfig":
        env = EnvReader(environ)
        common = CommonConfig.read(env, default_port=8081)
        toxicity = ToxicityConfig(
            model=env.choice("DETOXIFY_MODEL", "original", DETOXIFY_MODELS),
            checkpoint=env.optional("DETOXIFY_CHECKPOINT"),
            huggingface_config_path=env.optional("DETOXIFY_HF_CONFIG_PATH"),
            device=env.text("DETOXIFY_DEVICE", "cpu"),
            torch_threads=env.integer("TORCH_THREADS", 1, minimum=1, maximum=64),
            batch_size=env.integer("DETOXIFY_BATCH_SIZE", 16, minimum=1, maximum=256),
        )
        policy = Policy(
            version=env.text("POLICY_VERSION", "default-1"),
            toxicity_hold=env.number("POLICY_TOXICITY_HOLD", 0.8, minimum=0.0, maximum=1.0),
            threat_hold=env.number("POLICY_THREAT_HOLD", 0.7, minimum=0.0, maximum=1.0),
        )
        review = ReviewSettings(
            claim_seconds=env.integer("REVIEW_CLAIM_SECONDS", 600, minimum=10),
            overdue_seconds=env.integer("QUEUE_OVERDUE_SECONDS", 3600, minimum=60),
            report_hide_threshold=env.number("REPORT_HIDE_THRESHOLD", 3.0, minimum=0.5),
            new_account_hours=env.number("REPORT_NEW_ACCOUNT_HOURS", 24.0, minimum=0.0),
            removal_reasons=_words(env.text("REMOVAL_REASONS", ",".join(DEFAULT_REMOVAL_REASONS))),
            suspension_steps_days=_steps(env, env.text("SUSPENSION_STEPS_DAYS", "1,3,7,30")),
        )
        config = cls(common, toxicity, policy, env.integer("CRISIS_REPAGE_SECONDS", 120, minimum=1), review)
        env.raise_if_problems()
        return config


def _words(raw: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in raw.split(",") if word.strip())


def _steps(env: EnvReader, raw: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(step) for step in _words(raw))
    except ValueError:
        steps = ()
    if not steps or any(step < 1 for step in steps) or list(steps) != sorted(steps):
        env.problems.append(f"SUSPENSION_STEPS_DAYS must be rising whole days like 1,3,7,30, got {raw!r}")
        return (1, 3, 7, 30)
    return steps
