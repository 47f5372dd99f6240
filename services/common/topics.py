"""Every Kafka topic, its partition count, its configuration and the DLQ beside it.

The definition lives in ONE file, ``topics.yaml`` beside this module (shipped
with the package, so the Docker image has it; ``deploy/kafka/topics.yaml`` is a
symbolic link to it). It is read when a function here is called, never at
import time, and nothing is cached: a test or a tool may pass its own list.

The file holds production values (replication factor 3, ``min.insync.replicas``
2). :func:`ensure_topics` takes the most replicas the cluster can give: the
embedded dev/test broker is one node, so it creates every topic with
replication 1 and ``min.insync.replicas`` 1, with the same partitions,
retention and clean-up policy as production.

A prefix (``HAVEN_TOPIC_PREFIX``) lets tests and parallel environments use
their own topics on a shared broker.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from services.common.errors import ConfigError, InfrastructureError

log = logging.getLogger(__name__)

FORUM_POSTS = "forum.posts"
FORUM_REPORTS = "forum.reports"
FORUM_ACTIVITY = "forum.activity"
MODERATION_DECISIONS = "moderation.decisions"
MODERATION_ESCALATIONS = "moderation.escalations"
MODERATION_ACTIONS = "moderation.actions"
FORUM_ACCOUNTS = "forum.accounts"

# The topics the code produces to or consumes from; the definition file must hold each (and its DLQ).
CODE_TOPICS: tuple[str, ...] = (FORUM_POSTS, FORUM_REPORTS, FORUM_ACTIVITY, MODERATION_DECISIONS,
                                MODERATION_ESCALATIONS, MODERATION_ACTIONS, FORUM_ACCOUNTS)

DEFINITIONS_FILE = Path(__file__).with_name("topics.yaml")
DLQ_SUFFIX = ".dlq"
MIN_INSYNC = "min.insync.replicas"

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_TOPIC_KEYS = {"name", "description", "partitions", "replication_factor", "configs"}
_TOPIC_ALREADY_EXISTS = 36


def dlq(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


@dataclass(frozen=True)
class TopicSpec:
    """One topic as defined: logical name, partitions, replication factor, topic-level configs."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def is_dlq(self) -> bool:
        return self.name.endswith(DLQ_SUFFIX)

    def for_cluster(self, max_replication: int | None) -> TopicSpec:
        """This topic as a cluster giving at most ``max_replication`` replicas can hold it.

        ``None`` keeps the definition as it is (production). Otherwise the
        replication factor is lowered to ``max_replication`` and
        ``min.insync.replicas`` to at most the new replication factor (a
        one-broker cluster could accept no write with 2).
        """
        if max_replication is None or self.replication_factor <= max_replication:
            return self
        if max_replication < 1:
            raise ConfigError(f"replication factor must be at least 1, got {max_replication}")
        configs = dict(self.configs)
        if MIN_INSYNC in configs:
            configs[MIN_INSYNC] = str(min(int(configs[MIN_INSYNC]), max_replication))
        return replace(self, replication_factor=max_replication, configs=configs)


def load_topics(path: Path | None = None) -> tuple[TopicSpec, ...]:
    """Read and check the definition file (``topics.yaml`` by default); every problem in one ConfigError."""
    path = path or DEFINITIONS_FILE
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read the topic definitions {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"the topic definitions {path} are not valid YAML: {e}") from e
    return parse_topics(document, source=str(path))


def parse_topics(document: Any, *, source: str = "topic definitions") -> tuple[TopicSpec, ...]:
    """Turn the parsed YAML document into specs, or raise ConfigError listing every problem."""
    problems: list[str] = []
    if not isinstance(document, dict) or document.get("version") != 1 or not isinstance(document.get("topics"), list):
        raise ConfigError(f"{source}: expected a mapping with 'version: 1' and a 'topics' list")
    specs: list[TopicSpec] = []
    for index, entry in enumerate(document["topics"]):
        spec = _parse_topic(entry, f"{source}: topics[{index}]", problems)
        if spec is not None:
            specs.append(spec)
    names = [s.name for s in specs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{source}: topic {name} is defined more than once")
    defined = set(names)
    for spec in specs:
        if spec.is_dlq and spec.name.removesuffix(DLQ_SUFFIX) not in defined:
            problems.append(f"{source}: {spec.name} is the DLQ of {spec.name.removesuffix(DLQ_SUFFIX)}, "
                            "which is not defined")
        if not spec.is_dlq and dlq(spec.name) not in defined:
            problems.append(f"{source}: {spec.name} has no DLQ ({dlq(spec.name)} is not defined)")
    for topic in CODE_TOPICS:
        if topic not in defined:
            problems.append(f"{source}: topic {topic}, which the services use, is not defined")
    if problems:
        raise ConfigError("invalid topic definitions:\n  " + "\n  ".join(problems))
    return tuple(specs)


def _parse_topic(entry: Any, where: str, problems: list[str]) -> TopicSpec | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    unknown = set(entry) - _TOPIC_KEYS
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{where}: name must be a topic name ([A-Za-z0-9._-]), got {name!r}")
        return None
    where = f"{where} ({name})"
    counts = {}
    for key in ("partitions", "replication_factor"):
        value = entry.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{where}: {key} must be a whole number >= 1, got {value!r}")
            return None
        counts[key] = value
    raw_configs = entry.get("configs") or {}
    if not isinstance(raw_configs, dict):
        problems.append(f"{where}: configs must be a mapping")
        return None
    configs: dict[str, str] = {}
    for key, value in raw_configs.items():
        if not isinstance(value, (str, int, bool)) or isinstance(value, float):
            problems.append(f"{where}: config {key} must be a string, number or boolean, got {value!r}")
            continue
        configs[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    if MIN_INSYNC in configs:
        try:
            insync = int(configs[MIN_INSYNC])
        except ValueError:
            problems.append(f"{where}: {MIN_INSYNC} must be a whole number, got {configs[MIN_INSYNC]!r}")
        else:
            if not 1 <= insync <= counts["replication_factor"]:
                problems.append(f"{where}: {MIN_INSYNC}={insync} must be between 1 and the replication factor "
                                f"({counts['replication_factor']})")
    return TopicSpec(name=name, partitions=counts["partitions"], replication_factor=counts["replication_factor"],
                     configs=configs, description=str(entry.get("description", "")))


def partitions(specs: Iterable[TopicSpec] | None = None) -> dict[str, int]:
    """Partitions of each topic the services use, DLQs left out."""
    return {s.name: s.partitions for s in (load_topics() if specs is None else specs) if not s.is_dlq}


@dataclass(frozen=True)
class TopicNames:
    """Maps logical topic names to the physical names on the broker."""

    prefix: str = ""

    def name(self, logical: str) -> str:
        return f"{self.prefix}{logical}"

    def logical(self, physical: str) -> str:
        return physical[len(self.prefix):] if physical.startswith(self.prefix) else physical

    def all_physical(self, specs: Iterable[TopicSpec] | None = None) -> dict[str, int]:
        """Every physical topic (DLQs included) and its partition count."""
        return {self.name(s.name): s.partitions for s in (load_topics() if specs is None else specs)}


@dataclass(frozen=True)
class TopicState:
    """A topic as the broker has it: partitions, replicas of partition 0, and the configs asked about."""

    partitions: int
    replication_factor: int
    configs: dict[str, str]


async def ensure_topics(bootstrap_servers: str, names: TopicNames, replication_factor: int | None = 1, *,
                        specs: Iterable[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics with their definitions; returns the physical names created.

    ``replication_factor`` is the most replicas the cluster can give (1 for the
    embedded broker); ``None`` uses the definitions unchanged (production).
    Existing topics are left as they are (see :func:`update_topic_configs`).
    Safe to run repeatedly and concurrently.
    """
    wanted_specs = [s.for_cluster(replication_factor) for s in (load_topics() if specs is None else specs)]
    async with _admin(bootstrap_servers) as admin:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name=names.name(s.name), num_partitions=s.partitions, replication_factor=s.replication_factor,
                     topic_configs=dict(s.configs))
            for s in wanted_specs
            if names.name(s.name) not in existing
        ]
        if not wanted:
            return []
        response = await admin.create_topics(wanted)
        created, problems = [], []
        for entry in response.topic_errors:
            topic, code = entry[0], entry[1]
            if code == 0:
                created.append(topic)
            elif code != _TOPIC_ALREADY_EXISTS:  # another process won the race: same definitions
                message = entry[2] if len(entry) > 2 and entry[2] else ""
                problems.append(f"{topic}: {for_code(code).__name__} {message}".rstrip())
        if problems:
            raise InfrastructureError("Kafka refused to create topics:\n  " + "\n  ".join(problems))
        for topic in created:
            log.info("created topic %s", topic)
        return sorted(created)


async def describe_topics(bootstrap_servers: str, names: TopicNames,
                          specs: Iterable[TopicSpec] | None = None) -> dict[str, TopicState]:
    """What the broker has for each defined topic (physical name ⇒ state); missing topics are left out."""
    wanted = list(load_topics() if specs is None else specs)
    physical = {names.name(s.name): s for s in wanted}
    async with _admin(bootstrap_servers) as admin:
        metadata = await admin.describe_topics(list(physical))
        found = {t["topic"]: t for t in metadata if t["error_code"] == 0}
        if not found:
            return {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, topic, configs={k: None for k in physical[topic].configs})
                     for topic in found]
        configs: dict[str, dict[str, str]] = {}
        for response in await admin.describe_configs(resources):
            for resource in response.resources:
                error_code, topic, entries = resource[0], resource[3], resource[4]
                if error_code == 0:
                    configs[topic] = {entry[0]: entry[1] for entry in entries}
    states = {}
    for topic, meta in found.items():
        parts = meta["partitions"]
        replicas = len(parts[0]["replicas"]) if parts else 0
        states[topic] = TopicState(partitions=len(parts), replication_factor=replicas,
                                   configs=configs.get(topic, {}))
    return states


async def update_topic_configs(bootstrap_servers: str, names: TopicNames, replication_factor: int | None = None, *,
                               specs: Iterable[TopicSpec] | None = None) -> list[str]:
    """Make existing topics' configs equal their definitions; returns the physical names changed.

    Uses Kafka's AlterConfigs, which replaces a topic's whole set of overrides,
    so a config removed from the file goes back to the broker default.
    Partition counts are never changed here (see README "Deploying").
    """
    wanted = [s.for_cluster(replication_factor) for s in (load_topics() if specs is None else specs)]
    states = await describe_topics(bootstrap_servers, names, wanted)
    stale = [s for s in wanted if names.name(s.name) in states and states[names.name(s.name)].configs != dict(s.configs)]
    if not stale:
        return []
    async with _admin(bootstrap_servers) as admin:
        responses = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, names.name(s.name), configs=dict(s.configs)) for s in stale])
    problems = [f"{r[3]}: {for_code(r[0]).__name__} {r[1] or ''}".rstrip()
                for response in responses for r in response.resources if r[0] != 0]
    if problems:
        raise InfrastructureError("Kafka refused topic configs:\n  " + "\n  ".join(problems))
    changed = sorted(names.name(s.name) for s in stale)
    for topic in changed:
        log.info("updated configs of topic %s", topic)
    return changed


class _admin:
    """``async with _admin(bootstrap) as admin``: a started admin client, closed on the way out."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._client = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30000)

    async def __aenter__(self) -> AIOKafkaAdminClient:
        try:
            await self._client.start()
        except BaseException:
            await self._client.close()
            raise
        return self._client

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.close()
