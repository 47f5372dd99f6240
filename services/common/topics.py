"""Every Kafka topic, its partition count, and the DLQ beside it: defined once.

A prefix (``HAVEN_TOPIC_PREFIX``) lets tests and parallel environments use
their own topics on a shared broker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

FORUM_POSTS = "forum.posts"
FORUM_REPORTS = "forum.reports"
MODERATION_DECISIONS = "moderation.decisions"
MODERATION_ESCALATIONS = "moderation.escalations"
MODERATION_ACTIONS = "moderation.actions"

# Partitions bound how many consumers of a group work in parallel.
PARTITIONS: dict[str, int] = {
    FORUM_POSTS: 6,
    FORUM_REPORTS: 3,
    MODERATION_DECISIONS: 6,
    MODERATION_ESCALATIONS: 3,
    MODERATION_ACTIONS: 3,
}


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass(frozen=True)
class TopicNames:
    """Maps logical topic names to the physical names on the broker."""

    prefix: str = ""

    def name(self, logical: str) -> str:
        return f"{self.prefix}{logical}"

    def logical(self, physical: str) -> str:
        return physical[len(self.prefix):] if physical.startswith(self.prefix) else physical

    def all_physical(self) -> dict[str, int]:
        topics: dict[str, int] = {}
        for logical, partitions in PARTITIONS.items():
            topics[self.name(logical)] = partitions
            topics[self.name(dlq(logical))] = 1
        return topics


async def ensure_topics(bootstrap_servers: str, names: TopicNames, replication_factor: int = 1) -> list[str]:
    """Create missing topics; returns the ones created. Safe to run repeatedly."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name=topic, num_partitions=partitions, replication_factor=replication_factor)
            for topic, partitions in names.all_physical().items()
            if topic not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process won the race; same definitions
        return [t.name for t in wanted]
    finally:
        await admin.close()
