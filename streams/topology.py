"""Every topic the project uses, with its partitions and retention: one place to read them."""

from __future__ import annotations

from streams.config import Settings
from streams.kafka.admin import TopicSpec

__all__ = ["dead_letter_topic", "input_topics", "project_topics"]

_WEEK_MS = str(7 * 24 * 3600 * 1000)
_DLQ_RETENTION_MS = str(30 * 24 * 3600 * 1000)


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of input *topic*."""
    return f"{topic}.dlq"


def input_topics(settings: Settings) -> list[str]:
    """The event topics adapters publish to: tasks, handovers, EMR verifications."""
    k = settings.kafka
    return [k.tasks_topic, k.handovers_topic, k.verifications_topic]


def project_topics(settings: Settings) -> list[TopicSpec]:
    """The input topics and their dead-letter topics."""
    specs = []
    for topic in input_topics(settings):
        specs.append(TopicSpec(name=topic, partitions=settings.kafka.topic_partitions,
                               config={"retention.ms": _WEEK_MS, "cleanup.policy": "delete"}))
        specs.append(TopicSpec(name=dead_letter_topic(topic), partitions=1,
                               config={"retention.ms": _DLQ_RETENTION_MS,
                                       "cleanup.policy": "delete"}))
    return specs
