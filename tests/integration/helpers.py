"""Helpers the integration tests share: producing events and reading the outcome."""

from __future__ import annotations

import psycopg
from psycopg import sql

from streams.adapters.synthetic import SyntheticTaskSource
from streams.config import Settings
from streams.contracts import AvroCodec, SchemaCatalogue
from streams.contracts.models import TaskEvent
from streams.kafka.offsets import group_lag
from streams.kafka.producer import EventProducer
from streams.sink import ConsumedRecord

CODEC = AvroCodec(SchemaCatalogue())


def encode(event: TaskEvent) -> bytes:
    """The event's value bytes, as the SDK writes them (single-object encoding)."""
    return CODEC.encode(event.schema_name, event.to_avro())


def records(events: list[TaskEvent], *, topic: str = "t", partition: int = 0
            ) -> list[ConsumedRecord]:
    """The events as consumed records at consecutive offsets, keyed by aggregate id."""
    return [ConsumedRecord(topic=topic, partition=partition, offset=i,
                           key=str(e.aggregate_id).encode(), value=encode(e))
            for i, e in enumerate(events)]


def produce(settings: Settings, events: list[TaskEvent], *,
            raw: list[bytes] | None = None) -> None:
    """Produce *events* (and *raw* values, unkeyed) to the settings' task topic; flush."""
    producer = EventProducer(settings.librdkafka())
    for event in events:
        producer.produce(settings.kafka.tasks_topic, key=str(event.aggregate_id).encode(),
                         value=encode(event))
    for value in raw or []:
        producer.produce(settings.kafka.tasks_topic, key=None, value=value,
                         headers=[("source", b"fuzz")])
    producer.flush()


def synthetic(count: int, *, seed: int = 7, concurrent_rate: float = 0.0) -> list[TaskEvent]:
    return list(SyntheticTaskSource(seed=seed, concurrent_rate=concurrent_rate).events(count))


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                           ).fetchone()
    assert row is not None
    return int(row[0])


def committed_total(settings: Settings) -> int:
    """Sum of the group's committed offsets over the topic's partitions (0 when none)."""
    return sum(p.committed or 0 for p in group_lag(settings.librdkafka(),
                                                   settings.kafka.group_id,
                                                   settings.kafka.tasks_topic))


def lag(settings: Settings) -> int:
    return sum(p.lag for p in group_lag(settings.librdkafka(), settings.kafka.group_id,
                                        settings.kafka.tasks_topic))
