"""moderation's configuration (environment variables; see README "Configuration")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.config import CommonConfig, EnvReader
from services.common.errors import ConfigError
from services.moderation.detectors.encoder import EncoderConfig, default_cache_dir
from services.moderation.detectors.learned import LearnedConfig
from services.moderation.detectors.toxicity import ToxicityConfig
from services.moderation.policy import Policy, load_document, merge

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
# The consumers one instance runs (MODERATION_CONSUMERS): the crisis screen (rules + encoder, escalations at
# once) and the decision worker (Detoxify and the policy). Both by default; a deployment may run them apart.
CONSUMERS = ("crisis", "decisions")
DETOXIFY_MODELS = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")


@dataclass(frozen=True)
class ModerationConfig:
    common: CommonConfig
    toxicity: ToxicityConfig
    learned: LearnedConfig
    policy: Policy
    crisis_repage_seconds: int
    review: ReviewSettings = ReviewSettings()
    # How often the per-community policy documents are re-read from the database.
    policy_reload_seconds: float = 30.0
    consumers: tuple[str, ...] = CONSUMERS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ModerationConfig":
        env = EnvReader(environ)
        common = CommonConfig.read(env, default_port=8081)
        toxicity = toxicity_from_env(env)
        learned = learned_from_env(env)
        policy = policy_from_env(env)
        review = ReviewSettings(
            claim_seconds=env.integer("REVIEW_CLAIM_SECONDS", 600, minimum=10),
            overdue_seconds=env.integer("QUEUE_OVERDUE_SECONDS", 3600, minimum=60),
            report_hide_threshold=env.number("REPORT_HIDE_THRESHOLD", 3.0, minimum=0.5),
            new_account_hours=env.number("REPORT_NEW_ACCOUNT_HOURS", 24.0, minimum=0.0),
            removal_reasons=_words(env.text("REMOVAL_REASONS", ",".join(DEFAULT_REMOVAL_REASONS))),
            suspension_steps_days=_steps(env, env.text("SUSPENSION_STEPS_DAYS", "1,3,7,30")),
        )
        consumers = _words(env.text("MODERATION_CONSUMERS", ",".join(CONSUMERS)))
        if not consumers or set(consumers) - set(CONSUMERS):
            env.problems.append(f"MODERATION_CONSUMERS must be some of {','.join(CONSUMERS)}, got {consumers!r}")
        config = cls(common, toxicity, learned, policy, env.integer("CRISIS_REPAGE_SECONDS", 120, minimum=1), review,
                     env.number("POLICY_RELOAD_SECONDS", 30.0, minimum=1.0, maximum=3600.0), consumers)
        env.raise_if_problems()
        return config


def toxicity_from_env(env: EnvReader) -> ToxicityConfig:
    """Detoxify settings; the service and the classify/replay tools read them the same way."""
    int8 = env.text("DETOXIFY_INT8", "0").lower()
    if int8 not in ("0", "1", "true", "false", "yes", "no"):
        env.problems.append(f"DETOXIFY_INT8 must be 1 or 0, got {int8!r}")
    return ToxicityConfig(
        model=env.choice("DETOXIFY_MODEL", "original", DETOXIFY_MODELS),
        checkpoint=env.optional("DETOXIFY_CHECKPOINT"),
        huggingface_config_path=env.optional("DETOXIFY_HF_CONFIG_PATH"),
        device=env.text("DETOXIFY_DEVICE", "cpu"),
        torch_threads=env.integer("TORCH_THREADS", 1, minimum=1, maximum=64),
        batch_size=env.integer("DETOXIFY_BATCH_SIZE", 16, minimum=1, maximum=256),
        max_batch_tokens=env.integer("DETOXIFY_BATCH_TOKENS", 512, minimum=16, maximum=1_000_000),
        quantize=int8 in ("1", "true", "yes"),
    )


def learned_from_env(env: EnvReader) -> LearnedConfig:
    """The sentence encoder under the learned heads; the service and the tools read it the same way."""
    return LearnedConfig(EncoderConfig(
        cache_dir=str(default_cache_dir({"HAVEN_CACHE_DIR": env.text("HAVEN_CACHE_DIR", "")})),
        max_tokens=env.integer("ENCODER_MAX_TOKENS", 256, minimum=16, maximum=512),
        batch_size=env.integer("ENCODER_BATCH_SIZE", 32, minimum=1, maximum=512),
    ))


def policy_from_env(env: EnvReader) -> Policy:
    """The base policy: ``POLICY_FILE`` (default: the shipped ``policy_default.yaml``), then the
    ``POLICY_VERSION`` / ``POLICY_TOXICITY_HOLD`` / ``POLICY_THREAT_HOLD`` overrides where set.
    Communities' documents in the database are merged onto it when the service starts."""
    path = env.optional("POLICY_FILE")
    try:
        document = load_document(Path(path) if path else None)
    except ConfigError as e:
        env.problems.append(f"POLICY_FILE: {e}")
        return Policy()
    toxicity = document.get("toxicity") if isinstance(document.get("toxicity"), dict) else {}
    overrides = {"version": env.text("POLICY_VERSION", str(document.get("version", ""))),
                 "toxicity": {"abuse_hold": env.number("POLICY_TOXICITY_HOLD", toxicity.get("abuse_hold", 0.8),
                                                       minimum=0.0, maximum=1.0),
                              "threat_hold": env.number("POLICY_THREAT_HOLD", toxicity.get("threat_hold", 0.7),
                                                        minimum=0.0, maximum=1.0)}}
    try:
        return Policy.from_document(merge(document, overrides))
    except ConfigError as e:
        env.problems.append(f"POLICY_FILE {path or 'policy_default.yaml'}: {' '.join(str(e).split())}")
        return Policy()


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
