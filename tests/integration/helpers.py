"""Helpers the integration tests share: producing events and reading the outcome."""

from __future__ import annotations

import psycopg
from psycopg import sql

from streams.adapters.synthetic import SyntheticTaskSource
from streams.config import Settings
from streams.contracts import TaskEvent, encode_task_event
from streams.kafka.offsets import group_lag
from streams.kafka.producer import EventProducer


def produce(settings: Settings, events: list[TaskEvent], *,
            raw: list[bytes] | None = None) -> None:
    """Produce *events* (and *raw* values, unkeyed) to the settings' task topic; flush."""
    producer = EventProducer(settings.librdkafka())
    for event in events:
        producer.produce(settings.kafka.tasks_topic, key=str(event.task_id).encode(),
                         value=encode_task_event(event))
    for value in raw or []:
        producer.produce(settings.kafka.tasks_topic, key=None, value=value,
                         headers=[("source", b"fuzz")])
    producer.flush()


def synthetic(count: int, *, seed: int = 7) -> list[TaskEvent]:
    return list(SyntheticTaskSource(seed=seed).events(count))


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
