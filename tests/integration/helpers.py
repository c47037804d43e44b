"""Helpers the integration tests share: producing events and reading the outcome."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
from confluent_kafka import Consumer, Message
from psycopg import sql

from streams.adapters.synthetic import SyntheticTaskSource
from streams.config import Settings
from streams.contracts import AvroCodec, SchemaCatalogue
from streams.contracts.models import AnyEvent, TaskEvent
from streams.kafka.offsets import group_lag
from streams.kafka.producer import EventProducer
from streams.sdk import topic_for
from streams.sink import ConsumedRecord
from streams.topology import dead_letter_topic

CODEC = AvroCodec(SchemaCatalogue())


def encode(event: AnyEvent) -> bytes:
    """The event's value bytes, as the SDK writes them (single-object encoding)."""
    return CODEC.encode(event.schema_name, event.to_avro())


def records(events: list[AnyEvent], *, topic: str = "t", partition: int = 0
            ) -> list[ConsumedRecord]:
    """The events as consumed records at consecutive offsets, keyed by aggregate id."""
    return [ConsumedRecord(topic=topic, partition=partition, offset=i,
                           key=str(e.aggregate_id).encode(), value=encode(e))
            for i, e in enumerate(events)]


def produce(settings: Settings, events: list[AnyEvent], *,
            raw: list[bytes] | None = None, partitions: list[int] | None = None) -> None:
    """Produce *events* to their topics (and *raw* values, unkeyed, to the task topic).

    *partitions*, when given, puts event i on partition ``partitions[i]`` instead of its
    key's partition.
    """
    producer = EventProducer(settings.librdkafka())
    for i, event in enumerate(events):
        producer.produce(topic_for(settings, event), key=str(event.aggregate_id).encode(),
                         value=encode(event),
                         partition=partitions[i] if partitions is not None else None)
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


def dead_letters(settings: Settings, expected: int, *, then_none: bool = False
                 ) -> list[Message]:
    """The task topic's dead letters from the start, once *expected* of them arrived (or
    after 60 s, fewer); with *then_none*, assert that no further one follows."""
    consumer = Consumer({**settings.librdkafka(), "group.id": f"dlq-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([dead_letter_topic(settings.kafka.tasks_topic)])
    found: list[Message] = []
    try:
        for _ in range(120):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append(message)
            if len(found) >= expected:
                break
        if then_none:
            assert consumer.poll(1.0) is None, "more dead letters than dead-lettered records"
    finally:
        consumer.close()
    return found


def lag(settings: Settings) -> int:
    return sum(p.lag for p in group_lag(settings.librdkafka(), settings.kafka.group_id,
                                        settings.kafka.tasks_topic))


#: The tables whose every column is a function of the events (invariants 2 and 3).
STATE_TABLES = ("tasks", "handovers", "emr_verifications", "patients", "users",
                "departments", "shifts", "identity_aliases")
#: Processing times (when the processor saw or changed a row): the only columns that may
#: differ between two databases fed the same events.
PROVENANCE = frozenset({"ingested_at", "applied_at", "recorded_at"})


def table_state(url: str) -> dict[str, list[dict[str, object]]]:
    """Every domain table's rows, every column but provenance, in a stable order."""
    state: dict[str, list[dict[str, object]]] = {}
    with psycopg.connect(url) as conn:
        for table in STATE_TABLES:
            columns = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'public' AND table_name = %s ORDER BY ordinal_position", (table,))
                if r[0] not in PROVENANCE]
            query = sql.SQL("SELECT {cols} FROM {table} ORDER BY {cols}").format(
                cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
                table=sql.Identifier(table))
            cursor = conn.execute(query)
            state[table] = [dict(zip(columns, row, strict=True)) for row in cursor]
    return state


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that points an ``emr-streams`` command at this test's services."""
    k = settings.kafka
    return {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "EMR_STREAMS_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "EMR_STREAMS_POSTGRES_URL": settings.database_url,
            "EMR_STREAMS_KAFKA_TASKS_TOPIC": k.tasks_topic,
            "EMR_STREAMS_KAFKA_HANDOVERS_TOPIC": k.handovers_topic,
            "EMR_STREAMS_KAFKA_VERIFICATIONS_TOPIC": k.verifications_topic,
            "EMR_STREAMS_KAFKA_STATE_TOPIC_PREFIX": k.state_topic_prefix,
            "EMR_STREAMS_KAFKA_GROUP_ID": k.group_id, **extra}


def cli(settings: Settings, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``emr-streams ARGS`` against this test's services."""
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args],
                          capture_output=True, text=True, timeout=300,
                          env=cli_env(settings, **extra))
