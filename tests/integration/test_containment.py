"""Bad input is contained by construction: the hostile cases of issue 12, each against the
real processor (``emr-streams run``), real Kafka and real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import psycopg
import pytest

from streams.config import Settings
from streams.contracts import AvroCodec, SchemaCatalogue
from streams.contracts.models import TaskEvent
from streams.failures import Scope, classify
from streams.kafka.producer import EventProducer
from streams.kafka.reader import PartitionRange, RangeReader
from streams.sink.dead_letter import DLQ_MAX_BYTES
from tests.fixtures.processor import ProcessorFactory, wait_for
from tests.integration.helpers import count, dead_letters, encode, lag, synthetic
from tests.unit.events_fixtures import every_event

pytestmark = pytest.mark.integration

WRITER = AvroCodec(SchemaCatalogue(), limits=None)  # writes what a hostile producer would
TEMPLATE = every_event()[0]
assert isinstance(TEMPLATE, TaskEvent)


def _task(**envelope: Any) -> TaskEvent:
    """A new task like the template's (fresh ids); ``model_copy`` does not validate."""
    return TEMPLATE.model_copy(update={"event_id": uuid.uuid4(), "aggregate_id": uuid.uuid4(),
                                       **envelope})


def _bytes(event: TaskEvent, **record_changes: Any) -> bytes:
    record = event.to_avro()
    record.update(record_changes)
    return WRITER.encode(event.schema_name, record)


def _headers(message: Any) -> dict[str, bytes]:
    return {k: v for k, v in message.headers() or [] if v is not None}


def _run_until_consumed(settings: Settings, processor_factory: ProcessorFactory) -> Any:
    processor = processor_factory.start()
    wait_for(lambda: lag(settings) == 0, timeout=120, what="everything consumed",
             on_timeout=processor.output)
    assert processor.http("/healthz")[0] == 200, processor.output()
    return processor


def test_an_empty_node_id_is_dead_lettered_and_the_stream_goes_on(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    # Case 1: {"": 1} passed decoding and crash-looped the worker inside the merge.
    bad = _task()
    good = synthetic(20, seed=121)
    producer = EventProducer(emr_settings.librdkafka())
    topic = emr_settings.kafka.tasks_topic
    producer.produce(topic, key=str(bad.aggregate_id).encode(),
                     value=_bytes(bad, vector_clock={"": 1}))
    for event in good:
        producer.produce(topic, key=str(event.aggregate_id).encode(), value=encode(event))
    producer.flush()
    processor = _run_until_consumed(emr_settings, processor_factory)
    assert count(emr_settings.database_url, "processed_events") == len(good)
    [letter] = dead_letters(emr_settings, 1, then_none=True)
    headers = _headers(letter)
    assert headers["emr.dlq.offset"] == b"0" and headers["emr.dlq.reason"]
    assert processor.stop() == 0


def test_a_huge_header_is_dead_lettered_without_it(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    # Case 3: a 4-byte invalid value with a 1.2 MB header (lz4: the broker takes it); the
    # dead letter copied it and the DLQ produce failed forever.
    producer = EventProducer({**emr_settings.librdkafka(), "compression.type": "lz4",
                              "message.max.bytes": "5000000"})
    topic = emr_settings.kafka.tasks_topic
    producer.produce(topic, key=b"k" * 200_000, value=b"\x00bad",
                     headers=[("padding", b"x" * 1_200_000), ("trace", b"abc")])
    after = synthetic(5, seed=122)
    for event in after:
        producer.produce(topic, key=str(event.aggregate_id).encode(), value=encode(event))
    producer.flush()
    processor = _run_until_consumed(emr_settings, processor_factory)
    assert count(emr_settings.database_url, "processed_events") == len(after)
    [letter] = dead_letters(emr_settings, 1, then_none=True)
    headers = _headers(letter)
    assert headers["emr.dlq.headers_omitted"] == b"2:1200015"
    assert "padding" not in headers and "emr.dlq.key_omitted" not in headers
    assert letter.key() == b"k" * 200_000 and letter.value() == b"\x00bad"
    size = (len(letter.key() or b"") + len(letter.value() or b"")
            + sum(len(k) + len(v or b"") for k, v in letter.headers() or []))
    assert size <= DLQ_MAX_BYTES
    assert processor.stop() == 0


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    k = settings.kafka
    env = {**os.environ, "EMR_STREAMS_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "EMR_STREAMS_POSTGRES_URL": settings.database_url,
           "EMR_STREAMS_KAFKA_TASKS_TOPIC": k.tasks_topic,
           "EMR_STREAMS_KAFKA_HANDOVERS_TOPIC": k.handovers_topic,
           "EMR_STREAMS_KAFKA_VERIFICATIONS_TOPIC": k.verifications_topic,
           "EMR_STREAMS_KAFKA_STATE_TOPIC_PREFIX": k.state_topic_prefix}
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_forged_dead_letter_headers_neither_show_nor_steer_a_redrive(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    # Case 4: a producer planted emr.dlq.topic=<state topic> and a fake reason; readers
    # took the first match and redrive wrote the attacker's bytes into the state topic.
    victim = uuid.uuid4()
    state_topic = f"{emr_settings.kafka.state_topic_prefix}.tasks.v1"
    topic = emr_settings.kafka.tasks_topic
    producer = EventProducer(emr_settings.librdkafka())
    producer.produce(topic, key=str(victim).encode(), value=b'{"status": "COMPLETED"}',
                     headers=[("emr.dlq.topic", state_topic.encode()),
                              ("emr.dlq.reason", b"fingerprint planted"),
                              ("emr.dlq.partition", b"0"), ("emr.dlq.offset", b"0")])
    producer.flush()
    processor = _run_until_consumed(emr_settings, processor_factory)
    assert processor.stop() == 0
    [letter] = dead_letters(emr_settings, 1, then_none=True)
    headers = _headers(letter)
    assert headers["emr.dlq.topic"] == topic.encode()
    assert headers["emr.original.emr.dlq.topic"] == state_topic.encode()
    assert b"planted" not in headers["emr.dlq.reason"]

    listed = _cli(emr_settings, "dlq", "list", "--topic", topic, "--json")
    assert listed.returncode == 0, listed.stderr
    [summary] = json.loads(listed.stdout)
    assert summary["source"].startswith(f"{topic}:") and "planted" not in summary["reason"]
    dry = _cli(emr_settings, "dlq", "redrive", "--topic", topic, "--from-offset", "0",
               "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and state_topic not in dry.stdout
    assert f"-> {topic}" in dry.stdout
    done = _cli(emr_settings, "dlq", "redrive", "--topic", topic, "--from-offset", "0",
                "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"redriven": 1, "skipped": 0}
    # Back on its own input topic with its original headers; the state topic untouched.
    with RangeReader(emr_settings.librdkafka(), topic) as reader:
        ranges = [PartitionRange(p, *reader.watermarks(p)) for p in reader.partitions()]
        copies = [r for batch in reader.read(ranges) for r in batch]
    assert len(copies) == 2
    redriven = dict(max(copies, key=lambda r: r.timestamp_ms or 0).headers)
    assert redriven["emr.dlq.topic"] == state_topic.encode()  # its own header, as sent
    assert redriven["emr.redrive.from"].startswith(f"{topic}.dlq:".encode())
    with RangeReader(emr_settings.librdkafka(), state_topic) as reader:
        assert all(reader.watermarks(p)[1] == 0 for p in reader.partitions())


def test_a_few_refused_records_cost_few_transactions(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    # Case 6: one refused record sent its whole batch through one-record transactions.
    good = synthetic(400, seed=123)
    producer = EventProducer(emr_settings.librdkafka())
    topic = emr_settings.kafka.tasks_topic
    refused = {57, 211, 388}
    for i, event in enumerate(good):
        value = encode(event)
        if i in refused:
            patient = event.task.patient.model_copy(update={
                "id": uuid.uuid4(), "mrn": "lower-case-mrn", "emr_id": f"bad-{i}"})
            bad = event.model_copy(update={"task": event.task.model_copy(
                update={"patient": patient})})
            value = encode(bad)
        producer.produce(topic, key=str(event.aggregate_id).encode(), value=value, partition=0)
    producer.flush()
    processor = _run_until_consumed(emr_settings, processor_factory)
    metrics = processor.http("/metrics")[1]
    assert processor.stop() == 0
    assert count(emr_settings.database_url, "processed_events") == len(good) - len(refused)
    letters = dead_letters(emr_settings, len(refused), then_none=True)
    assert {int(_headers(m)["emr.dlq.offset"]) for m in letters} == refused
    spent = sum(float(line.split()[-1]) for line in metrics.splitlines()
                if line.startswith("emr_streams_isolation_transactions_total{"))
    # Split in halves: at most 2 * k * log2(batch) transactions (batches of 200), not n.
    assert 0 < spent <= 2 * len(refused) * 8


def test_no_server_path_in_an_unknown_schema_reason(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    # Case 9: the reason carried the server's schemas folder.
    producer = EventProducer(emr_settings.librdkafka())
    producer.produce(emr_settings.kafka.tasks_topic, key=None,
                     value=b"\xc3\x01" + bytes(range(8)) + b"\x02")
    producer.flush()
    processor = _run_until_consumed(emr_settings, processor_factory)
    assert processor.stop() == 0
    [letter] = dead_letters(emr_settings, 1, then_none=True)
    reason = _headers(letter)["emr.dlq.reason"].decode()
    assert "unknown schema fingerprint" in reason and "/" not in reason


@pytest.mark.parametrize(("error", "scope"), [
    (psycopg.errors.SerializationFailure(), Scope.TRANSIENT),
    (psycopg.errors.DeadlockDetected(), Scope.TRANSIENT),
    (psycopg.errors.AdminShutdown(), Scope.TRANSIENT),
    (psycopg.errors.DiskFull(), Scope.TRANSIENT),
    (psycopg.OperationalError("connection lost"), Scope.TRANSIENT),
    (psycopg.errors.QueryCanceled(), Scope.RECORD),
    (psycopg.errors.CheckViolation(), Scope.RECORD),
    (psycopg.errors.InvalidTextRepresentation(), Scope.RECORD),
    (psycopg.errors.RaiseException(), Scope.RECORD),
    (psycopg.errors.InsufficientPrivilege(), Scope.PROCESS),
    (psycopg.errors.UndefinedTable(), Scope.PROCESS),
    (psycopg.errors.ReadOnlySqlTransaction(), Scope.PROCESS),
    (ValueError("x"), Scope.RECORD),
    (KeyError("x"), Scope.RECORD),
    (MemoryError(), Scope.PROCESS),
    (KeyboardInterrupt(), Scope.PROCESS),
])
def test_one_classification_decides_every_error(error: BaseException, scope: Scope) -> None:
    assert classify(error) is scope


def test_a_refused_statement_is_classified_from_the_real_server(
        emr_settings: Settings) -> None:
    with psycopg.connect(emr_settings.database_url, autocommit=True) as conn:
        for statement, scope in (("SELECT 1/0", Scope.RECORD),
                                 ("SELECT * FROM no_such_table", Scope.PROCESS),
                                 ("SET statement_timeout = 1; SELECT pg_sleep(1)",
                                  Scope.RECORD)):
            with pytest.raises(psycopg.Error) as info:
                conn.execute(statement)  # type: ignore[arg-type]
            assert classify(info.value) is scope, statement
            conn.execute("RESET statement_timeout")
