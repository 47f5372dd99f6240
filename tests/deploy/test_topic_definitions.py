"""The topic definitions: one file, production values, read at call time, checked on load."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
import yaml

from services.common import topics
from services.common.errors import ConfigError
from services.common.topics import (
    CODE_TOPICS,
    DEFINITIONS_FILE,
    TopicNames,
    TopicSpec,
    dlq,
    load_topics,
    parse_topics,
    partitions,
)
from tests.deploy.inventory import DEPLOY, pyproject


def test_deploy_kafka_topics_yaml_is_the_packaged_definition() -> None:
    deployed = DEPLOY / "kafka" / "topics.yaml"
    assert deployed.read_bytes() == DEFINITIONS_FILE.read_bytes()
    if deployed.is_symlink():
        assert deployed.resolve() == DEFINITIONS_FILE.resolve()


def test_the_definition_file_ships_inside_the_package() -> None:
    """setuptools package data must include it, or the Docker image (a non-editable install) lacks it."""
    patterns = pyproject()["tool"]["setuptools"]["package-data"]["*"]
    assert any(fnmatch.fnmatch(DEFINITIONS_FILE.name, p) for p in patterns)
    assert DEFINITIONS_FILE.parent == Path(topics.__file__).parent


def test_every_topic_has_production_settings_and_a_dlq() -> None:
    specs = {s.name: s for s in load_topics()}
    for name in CODE_TOPICS:
        assert name in specs and dlq(name) in specs
    for spec in specs.values():
        assert spec.replication_factor == 3, spec.name
        assert spec.configs["min.insync.replicas"] == "2", spec.name
        assert int(spec.configs["retention.ms"]) >= 24 * 3600 * 1000, spec.name
        assert spec.configs["cleanup.policy"] == "delete", spec.name
        assert spec.partitions == 1 if spec.is_dlq else spec.partitions >= 3, spec.name
    assert int(specs[dlq("forum.posts")].configs["retention.ms"]) > int(specs["forum.posts"].configs["retention.ms"])


def test_partitions_and_physical_names_keep_their_old_shape() -> None:
    assert partitions() == {"forum.posts": 6, "forum.reports": 3, "forum.activity": 3, "moderation.decisions": 6,
                            "moderation.escalations": 3, "moderation.actions": 3, "forum.accounts": 3}
    physical = TopicNames("t1.").all_physical()
    assert physical["t1.forum.posts"] == 6 and physical["t1.forum.posts.dlq"] == 1
    assert len(physical) == 2 * len(CODE_TOPICS)


def test_definitions_are_read_when_asked_not_at_import(tmp_path: Path) -> None:
    document = yaml.safe_load(DEFINITIONS_FILE.read_text())
    document["topics"][0]["partitions"] = 12
    other = tmp_path / "topics.yaml"
    other.write_text(yaml.safe_dump(document))
    assert partitions(load_topics(other))["forum.posts"] == 12
    assert partitions()["forum.posts"] == 6


def test_one_broker_reduces_replication_and_min_insync() -> None:
    spec = TopicSpec("forum.posts", 6, 3, {"min.insync.replicas": "2", "retention.ms": "1"})
    one = spec.for_cluster(1)
    assert (one.replication_factor, one.configs["min.insync.replicas"], one.partitions) == (1, "1", 6)
    assert one.configs["retention.ms"] == "1"
    two = spec.for_cluster(2)
    assert (two.replication_factor, two.configs["min.insync.replicas"]) == (2, "2")
    assert spec.for_cluster(None) is spec and spec.for_cluster(5) is spec
    with pytest.raises(ConfigError):
        spec.for_cluster(0)


def test_every_problem_of_a_bad_file_is_reported() -> None:
    document = yaml.safe_load(DEFINITIONS_FILE.read_text())
    entries = document["topics"]
    by_name = {e["name"]: e for e in entries}
    entries.append(dict(by_name["forum.posts"]))                                   # duplicate
    by_name["forum.reports"]["partitions"] = 0                                     # bad partitions
    by_name["moderation.decisions"]["configs"]["min.insync.replicas"] = 4          # above replication
    by_name["moderation.escalations"]["colour"] = "blue"                           # unknown key
    entries[:] = [e for e in entries if e["name"] != "moderation.actions.dlq"]     # a DLQ missing
    with pytest.raises(ConfigError) as raised:
        parse_topics(document, source="test")
    message = str(raised.value)
    for expected in ("forum.posts is defined more than once", "partitions must be a whole number",
                     "min.insync.replicas=4 must be between 1 and the replication factor",
                     "unknown keys ['colour']", "moderation.actions has no DLQ",
                     "topic forum.reports, which the services use, is not defined"):
        assert expected in message, message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the topic definitions"):
        load_topics(tmp_path / "absent.yaml")
