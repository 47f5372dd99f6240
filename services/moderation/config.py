"""moderation's configuration (environment variables; see README "Configuration")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.config import CommonConfig, EnvReader
from services.moderation.detectors.toxicity import ToxicityConfig
from services.moderation.policy import Policy

SCHEMA = "moderation"
DETOXIFY_MODELS = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")


@dataclass(frozen=True)
class ModerationConfig:
    common: CommonConfig
    toxicity: ToxicityConfig
    policy: Policy
    crisis_repage_seconds: int

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
        config = cls(common, toxicity, policy, env.integer("CRISIS_REPAGE_SECONDS", 120, minimum=5))
        env.raise_if_problems()
        return config
