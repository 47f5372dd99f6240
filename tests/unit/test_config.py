"""Configuration from the environment: typed, bounded, defaults, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.config import EnvReader
from services.common.errors import ConfigError
from services.common.tokens import generate_keypair
from services.forum.config import ForumConfig
from services.moderation.config import ModerationConfig
from services.notifications.config import NotificationsConfig
from services.notifications.rules import CrisisResources


@pytest.fixture
def keys(tmp_path) -> tuple[Path, Path]:
    private, public = tmp_path / "keys" / "private.pem", tmp_path / "keys" / "public.pem"
    generate_keypair(private, public)
    return private, public


@pytest.fixture
def base_env(keys) -> dict[str, str]:
    private, public = keys
    return {"DATABASE_URL": "postgresql://haven@db/haven", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
            "TOKEN_PUBLIC_KEY_FILE": str(public), "TOKEN_PRIVATE_KEY_FILE": str(private)}


def problem_lines(error: ConfigError) -> list[str]:
    header, *lines = str(error).splitlines()
    assert header == "invalid configuration:"
    return [line.strip() for line in lines]


# --- EnvReader --------------------------------------------------------------------------------------------------


def test_text_strips_and_falls_back_to_default():
    env = EnvReader({"A": "  value  ", "B": "   "})
    assert (env.text("A"), env.text("B", "dflt"), env.text("C", "dflt")) == ("value", "dflt", "dflt")
    assert env.problems == []


@pytest.mark.parametrize("environ", [{}, {"A": ""}, {"A": "  "}])
def test_required_text_that_is_missing_or_blank_is_a_problem(environ):
    env = EnvReader(environ)
    assert env.text("A", required=True) == ""
    assert env.problems == ["A is required"]


def test_optional_returns_none_when_unset_or_blank():
    env = EnvReader({"B": " ", "C": "x"})
    assert (env.optional("A"), env.optional("B"), env.optional("C")) == (None, None, "x")


@pytest.mark.parametrize(("raw", "value"), [("", 7), ("42", 42), (" 5 ", 5), ("-3", -3)])
def test_integer_parses_or_defaults(raw, value):
    env = EnvReader({"N": raw})
    assert env.integer("N", 7) == value
    assert env.problems == []


@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10", "1e3"])
def test_integer_rejects_non_integers_quoting_the_value(raw):
    env = EnvReader({"N": raw})
    assert env.integer("N", 7) == 7
    assert env.problems == [f"N must be an integer, got {raw!r}"]


@pytest.mark.parametrize(("raw", "message"), [("0", "N must be >= 1, got 0"), ("11", "N must be <= 10, got 11")])
def test_integer_bounds(raw, message):
    env = EnvReader({"N": raw})
    assert env.integer("N", 5, minimum=1, maximum=10) == 5
    assert env.problems == [message]


@pytest.mark.parametrize("raw", ["1", "10"])
def test_integer_bounds_are_inclusive(raw):
    env = EnvReader({"N": raw})
    assert env.integer("N", 5, minimum=1, maximum=10) == int(raw)
    assert env.problems == []


@pytest.mark.parametrize(("raw", "ok"), [("0.25", True), ("0", True), ("1", True), ("1.01", False), ("-0.1", False),
                                         ("abc", False), ("inf", False), ("-inf", False)])
def test_number_parses_and_bounds(raw, ok):
    env = EnvReader({"X": raw})
    value = env.number("X", 0.5, minimum=0.0, maximum=1.0)
    assert (env.problems == []) is ok
    assert value == (float(raw) if ok else 0.5)


def test_number_rejects_nan():
    env = EnvReader({"X": "nan"})
    env.number("X", 0.5, minimum=0.0, maximum=1.0)
    assert env.problems


def test_choice_accepts_a_listed_value_and_rejects_others_listing_them():
    env = EnvReader({"GOOD": "b", "BAD": "z"})
    assert env.choice("GOOD", "a", ("a", "b")) == "b"
    assert env.choice("BAD", "a", ("a", "b")) == "a"
    assert env.choice("UNSET", "a", ("a", "b")) == "a"
    assert env.problems == ["BAD must be one of a, b, got 'z'"]


def test_existing_file(tmp_path):
    present = tmp_path / "f.pem"
    present.write_text("x")
    env = EnvReader({"OK": str(present), "GONE": str(tmp_path / "nope"), "DIR": str(tmp_path)})
    assert env.existing_file("OK") == present
    assert env.existing_file("GONE") is None
    assert env.existing_file("DIR") is None
    assert env.existing_file("UNSET") is None
    assert env.existing_file("UNSET_OPTIONAL", required=False) is None
    assert env.problems == [f"GONE names {str(tmp_path / 'nope')!r}, which is not a readable file",
                            f"DIR names {str(tmp_path)!r}, which is not a readable file",
                            "UNSET is required (a file path)"]


def test_raise_if_problems_is_silent_without_problems():
    EnvReader({}).raise_if_problems()


def test_raise_if_problems_reports_every_problem_one_line_each():
    env = EnvReader({"N": "x", "M": "99"})
    env.text("A", required=True)
    env.integer("N", 1)
    env.integer("M", 1, maximum=10)
    with pytest.raises(ConfigError) as caught:
        env.raise_if_problems()
    assert problem_lines(caught.value) == ["A is required", "N must be an integer, got 'x'", "M must be <= 10, got 99"]


# --- the services' configs --------------------------------------------------------------------------------------


def test_forum_defaults(base_env, keys):
    config = ForumConfig.from_env(base_env)
    assert config.common.http_port == 8080 and config.common.http_host == "127.0.0.1"
    assert config.common.token_public_key_file == keys[1] and config.token_private_key_file == keys[0]
    assert (config.access_token_ttl_seconds, config.refresh_token_ttl_days) == (900, 30)
    assert (config.post_max_chars, config.title_max_chars) == (10000, 200)
    assert (config.posts_per_minute, config.auth_attempts_per_minute) == (20, 10)
    assert (config.common.db_pool_min, config.common.db_pool_max, config.common.log_level) == (1, 10, "INFO")
    assert config.common.consumer_max_attempts == 5 and config.common.topic_prefix == ""


def test_moderation_defaults(base_env):
    config = ModerationConfig.from_env(base_env)
    assert config.common.http_port == 8081
    assert (config.policy.version, config.policy.toxicity_hold, config.policy.threat_hold) == ("default-1", 0.8, 0.7)
    assert (config.toxicity.model, config.toxicity.batch_size, config.toxicity.device) == ("original", 16, "cpu")
    assert config.crisis_repage_seconds == 120


def test_notifications_defaults(base_env):
    config = NotificationsConfig.from_env(base_env)
    assert config.common.http_port == 8082
    assert config.crisis_resources == CrisisResources()
    assert "988" in config.crisis_resources.line


def test_values_from_the_environment_override_defaults(base_env):
    env = {**base_env, "POLICY_TOXICITY_HOLD": "0.65", "POLICY_THREAT_HOLD": "0.5", "POLICY_VERSION": "c-2",
           "DETOXIFY_MODEL": "multilingual", "CRISIS_REPAGE_SECONDS": "60", "HTTP_PORT": "9000"}
    config = ModerationConfig.from_env(env)
    assert (config.policy.version, config.policy.toxicity_hold, config.policy.threat_hold) == ("c-2", 0.65, 0.5)
    assert (config.toxicity.model, config.crisis_repage_seconds, config.common.http_port) == ("multilingual", 60, 9000)


def test_notifications_crisis_line_is_configurable(base_env):
    config = NotificationsConfig.from_env({**base_env, "CRISIS_LINE_TEXT": "Samaritans: call 116 123 (UK)"})
    assert config.crisis_resources.line == "Samaritans: call 116 123 (UK)"
    assert config.crisis_resources.emergency == CrisisResources().emergency


@pytest.mark.parametrize(("config_class", "missing"), [
    (ForumConfig, {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TOKEN_PUBLIC_KEY_FILE", "TOKEN_PRIVATE_KEY_FILE"}),
    (ModerationConfig, {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TOKEN_PUBLIC_KEY_FILE"}),
    (NotificationsConfig, {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TOKEN_PUBLIC_KEY_FILE"}),
])
def test_an_empty_environment_reports_every_missing_setting_at_once(config_class, missing):
    with pytest.raises(ConfigError) as caught:
        config_class.from_env({})
    lines = problem_lines(caught.value)
    assert len(lines) == len(missing)
    assert {line.split()[0] for line in lines} == missing


@pytest.mark.parametrize(("config_class", "bad"), [
    (ForumConfig, {"HTTP_PORT": "70000", "DB_POOL_MAX": "0", "LOG_LEVEL": "verbose", "ACCESS_TOKEN_TTL_SECONDS": "5",
                   "POST_MAX_CHARS": "lots", "PENDING_SWEEP_SECONDS": "0.1", "TOKEN_PRIVATE_KEY_FILE": "/nope.pem"}),
    (ModerationConfig, {"POLICY_TOXICITY_HOLD": "1.5", "POLICY_THREAT_HOLD": "-0.1", "DETOXIFY_MODEL": "huge",
                        "DETOXIFY_BATCH_SIZE": "abc", "CRISIS_REPAGE_SECONDS": "0", "OUTBOX_POLL_SECONDS": "0"}),
    (NotificationsConfig, {"CONSUMER_MAX_ATTEMPTS": "0", "HTTP_PORT": "-1", "DB_POOL_MIN": "zero",
                           "TOKEN_PUBLIC_KEY_FILE": "/does/not/exist.pem"}),
])
def test_every_bad_value_gets_its_own_line_in_one_error(base_env, config_class, bad):
    with pytest.raises(ConfigError) as caught:
        config_class.from_env({**base_env, **bad})
    lines = problem_lines(caught.value)
    assert sorted(line.split()[0] for line in lines) == sorted(bad)


@pytest.mark.parametrize(("name", "value"), [
    ("HTTP_PORT", "65536"), ("DB_POOL_MAX", "201"), ("DB_POOL_MIN", "0"), ("CONSUMER_MAX_ATTEMPTS", "101"),
    ("OUTBOX_POLL_SECONDS", "61"), ("REFRESH_TOKEN_TTL_DAYS", "366"), ("ACCESS_TOKEN_TTL_SECONDS", "3601"),
    ("TITLE_MAX_CHARS", "9"), ("POSTS_PER_MINUTE", "0"), ("AUTH_ATTEMPTS_PER_MINUTE", "0"),
    ("REPORTS_PER_MINUTE", "0"), ("REGISTRATIONS_PER_HOUR", "0"), ("PENDING_SWEEP_SECONDS", "0.49"),
])
def test_forum_bounds(base_env, name, value):
    with pytest.raises(ConfigError, match=name):
        ForumConfig.from_env({**base_env, name: value})


def test_pool_min_above_pool_max_is_a_config_problem(base_env):
    with pytest.raises(ConfigError, match="DB_POOL_MIN"):
        ForumConfig.from_env({**base_env, "DB_POOL_MIN": "50", "DB_POOL_MAX": "10"})


def test_nan_threshold_is_a_config_problem(base_env):
    with pytest.raises(ConfigError, match="POLICY_TOXICITY_HOLD"):
        ModerationConfig.from_env({**base_env, "POLICY_TOXICITY_HOLD": "nan"})
