"""Every topic the project uses, with its partitions and retention: one place to read them."""

from __future__ import annotations

from streams.config import Settings
from streams.kafka.admin import TopicSpec
from streams.registry import AGGREGATES, by_type

__all__ = ["dead_letter_topic", "input_topics", "project_topics", "state_topic"]

_WEEK_MS = str(7 * 24 * 3600 * 1000)
_DLQ_RETENTION_MS = str(30 * 24 * 3600 * 1000)


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of input *topic*."""
    return f"{topic}.dlq"


def input_topics(settings: Settings) -> list[str]:
    """The event topics adapters publish to, one per aggregate (``streams.registry``):
    tasks, handovers, EMR verifications."""
    return [a.input_topic(settings) for a in AGGREGATES]


def state_topic(settings: Settings, aggregate_type: str) -> str:
    """The compacted topic of an aggregate's merged state (key = aggregate id)."""
    return by_type(aggregate_type).state_topic(settings)


def project_topics(settings: Settings) -> list[TopicSpec]:
    """The input topics, their dead-letter topics, and the compacted state topics."""
    specs = [TopicSpec(name=aggregate.state_topic(settings),
                       partitions=settings.kafka.topic_partitions,
                       config={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})
             for aggregate in AGGREGATES]
    for topic in input_topics(settings):
        specs.append(TopicSpec(name=topic, partitions=settings.kafka.topic_partitions,
                               config={"retention.ms": _WEEK_MS, "cleanup.policy": "delete"}))
        specs.append(TopicSpec(name=dead_letter_topic(topic), partitions=1,
                               config={"retention.ms": _DLQ_RETENTION_MS,
                                       "cleanup.policy": "delete"}))
    return specs
