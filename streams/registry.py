"""The aggregates the project knows, one entry each: the one place to add or rename one.

An entry names what every layer needs to find an aggregate: its event model (and through
it the Avro schema and the aggregate type events carry), the word used in its topic names
and settings (``EMR_STREAMS_KAFKA_<PLURAL>_TOPIC``, ``<prefix>.<plural>.v1``) and its
table. The topology, the SDK's publisher and subscriber, the sink's merge specs
(``streams.sink.aggregates``, which add how each aggregate merges), the benchmark and the
tests read it from here; ``tests/unit/test_registry.py`` checks that each entry has its
schema, its state schema, its setting, its table and its merge spec.

Adding an aggregate: its schema under ``schemas/``, its model in
``streams.contracts.models``, its ``<plural>_topic`` setting, its table (a migration), an
entry here and its merge spec in ``streams.sink.aggregates``.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.config import Settings
from streams.contracts.models import AnyEvent, HandoverEvent, TaskEvent, VerificationEvent

__all__ = ["AGGREGATES", "Aggregate", "by_schema", "by_type"]


@dataclass(frozen=True)
class Aggregate:
    """One aggregate: its event model, the plural of its topic names and settings, its
    table."""

    event: type[AnyEvent]
    plural: str
    table: str

    @property
    def schema_name(self) -> str:
        """The Avro schema of its events (``schemas/<schema_name>/``)."""
        return self.event.schema_name

    @property
    def aggregate_type(self) -> str:
        """The ``aggregate_type`` its events carry, and the outbox and audit rows name."""
        return self.event.aggregate_type

    @property
    def topic_setting(self) -> str:
        """The ``KafkaSettings`` field of its input topic."""
        return f"{self.plural}_topic"

    def input_topic(self, settings: Settings) -> str:
        """The topic its events are published to."""
        return str(getattr(settings.kafka, self.topic_setting))

    def state_topic(self, settings: Settings) -> str:
        """The compacted topic of its merged state (key: the aggregate id)."""
        return f"{settings.kafka.state_topic_prefix}.{self.plural}.v1"


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate(TaskEvent, "tasks", "tasks"),
    Aggregate(HandoverEvent, "handovers", "handovers"),
    Aggregate(VerificationEvent, "verifications", "emr_verifications"),
)
_BY_SCHEMA = {a.schema_name: a for a in AGGREGATES}
_BY_TYPE = {a.aggregate_type: a for a in AGGREGATES}


def by_schema(schema_name: str) -> Aggregate:
    """The aggregate whose events use Avro schema *schema_name* (KeyError if none)."""
    return _BY_SCHEMA[schema_name]


def by_type(aggregate_type: str) -> Aggregate:
    """The aggregate of *aggregate_type* (KeyError if none)."""
    return _BY_TYPE[aggregate_type]
