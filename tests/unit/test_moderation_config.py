"""Issue 3's settings: DETOXIFY_INT8, POLICY_FILE, POLICY_RELOAD_SECONDS."""

from __future__ import annotations

import pytest

from services.common.errors import ConfigError
from services.moderation.config import ModerationConfig


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    key = tmp_path / "token.pub.pem"
    key.write_text("not read here")
    return {"DATABASE_URL": "postgresql://x/y", "KAFKA_BOOTSTRAP_SERVERS": "k:9092", "TOKEN_PUBLIC_KEY_FILE": str(key)}


def test_defaults_are_fp32_the_shipped_policy_and_a_30s_reload(env):
    config = ModerationConfig.from_env(env)
    assert config.toxicity.quantize is False and config.policy_reload_seconds == 30.0
    assert config.policy.version == "default-1" and config.policy.categories["sourcing"].hold == 0.5


@pytest.mark.parametrize(("raw", "quantize"), [("1", True), ("true", True), ("0", False), ("no", False)])
def test_detoxify_int8(env, raw, quantize):
    assert ModerationConfig.from_env({**env, "DETOXIFY_INT8": raw}).toxicity.quantize is quantize


def test_a_bad_int8_value_is_reported(env):
    with pytest.raises(ConfigError, match="DETOXIFY_INT8"):
        ModerationConfig.from_env({**env, "DETOXIFY_INT8": "maybe"})


def test_policy_file_replaces_the_shipped_default_and_env_overrides_still_apply(env, tmp_path):
    policy = tmp_path / "site.yaml"
    policy.write_text("version: site-4\ncategories:\n  sourcing: {hold: 0.6, remove: 0.95}\n"
                      "watched:\n  words: [{text: spice gold, action: block}]\n")
    config = ModerationConfig.from_env({**env, "POLICY_FILE": str(policy), "POLICY_THREAT_HOLD": "0.6"})
    assert config.policy.version == "site-4" and config.policy.threat_hold == 0.6
    assert config.policy.categories["sourcing"].remove == 0.95
    assert [e.text for e in config.policy.watched.words] == ["spice gold"]


@pytest.mark.parametrize("content", ["version: [not, a, string]\n", "toxicity: {remove: 0.9}\nversion: x\n", ": : :"])
def test_a_bad_policy_file_is_one_config_problem(env, tmp_path, content):
    policy = tmp_path / "bad.yaml"
    policy.write_text(content)
    with pytest.raises(ConfigError, match="POLICY_FILE"):
        ModerationConfig.from_env({**env, "POLICY_FILE": str(policy)})


def test_a_missing_policy_file_is_a_config_problem(env, tmp_path):
    with pytest.raises(ConfigError, match="POLICY_FILE"):
        ModerationConfig.from_env({**env, "POLICY_FILE": str(tmp_path / "nope.yaml")})
