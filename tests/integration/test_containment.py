"""Bad input is contained by construction: the hostile cases of issue 12, each against the
real processor (``emr-streams run``), real Kafka and real PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg_pool import ConnectionPool

from streams import clock
from streams.config import Settings
from streams.contracts import AvroCodec, SchemaCatalogue
from streams.contracts.models import TaskEvent
from streams.failures import Scope, classify
from streams.kafka.producer import EventProducer
from streams.kafka.reader import PartitionRange, RangeReader
from streams.sink import ConsumedRecord
from streams.sink.dead_letter import DLQ_MAX_BYTES
from streams.sink.processor import BatchProcessor
from tests.fixtures.processor import ProcessorFactory, wait_for
from tests.integration.helpers import (
    CODEC,
    cli,
    count,
    dead_letters,
    encode,
    lag,
    produce,
    synthetic,
)
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

    listed = cli(emr_settings, "dlq", "list", "--topic", topic, "--json")
    assert listed.returncode == 0, listed.stderr
    [summary] = json.loads(listed.stdout)
    assert summary["source"].startswith(f"{topic}:") and "planted" not in summary["reason"]
    dry = cli(emr_settings, "dlq", "redrive", "--topic", topic, "--from-offset", "0",
               "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and state_topic not in dry.stdout
    assert f"-> {topic}" in dry.stdout
    done = cli(emr_settings, "dlq", "redrive", "--topic", topic, "--from-offset", "0",
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
    # Probes and parts: about 2 * log2(batch) for each refused record (batches of at most
    # 200, so 8 levels) plus one per batch, not one transaction per record (400).
    assert 0 < spent <= 2 * len(refused) * 9


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


def _fresh(task_id: uuid.UUID | None = None, *, seconds_ago: float = 60.0,
           **record_changes: Any) -> tuple[TaskEvent, bytes]:
    """A valid task event stamped by the suite's clock, as a hostile adapter writes it."""
    event = _task(**({"aggregate_id": task_id} if task_id else {}))
    physical = clock.now_us() - int(seconds_ago * 1e6)
    changes: dict[str, Any] = {
        "hlc": {"physical_us": physical, "logical": 0, "node": "tablet-1"},
        "occurred_at": datetime.fromtimestamp(physical / 1e6, UTC), **record_changes}
    return event, _bytes(event, **changes)


def test_merged_clocks_stay_within_what_the_reader_accepts(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    # Case 2: six events with 256 new (long) node ids each grew the row's clock to 1,280
    # entries; reading it back enforced 1,024 and crash-looped the worker.
    task_id = uuid.uuid4()
    producer = EventProducer(emr_settings.librdkafka())
    topic = emr_settings.kafka.tasks_topic
    for n in range(6):
        wide = {f"device-{n}-{i:04}-" + "x" * 100: n * 1000 + i + 1 for i in range(256)}
        event, value = _fresh(task_id, seconds_ago=60 - n, vector_clock=wide)
        producer.produce(topic, key=str(task_id).encode(), value=value)
    long_node, value = _fresh(vector_clock={"n" * 129: 1})
    producer.produce(topic, key=str(long_node.aggregate_id).encode(), value=value)
    after = synthetic(5, seed=124)
    for event in after:
        producer.produce(topic, key=str(event.aggregate_id).encode(), value=encode(event))
    producer.flush()
    processor = _run_until_consumed(emr_settings, processor_factory)
    assert processor.stop() == 0
    with psycopg.connect(emr_settings.database_url) as conn:
        row = conn.execute("SELECT vector_clock FROM tasks WHERE id = %s",
                           (task_id,)).fetchone()
        biggest = conn.execute("SELECT max(pg_column_size(local_clock) + "
                               "pg_column_size(remote_clock) + pg_column_size(local_state) "
                               "+ pg_column_size(remote_state) + "
                               "pg_column_size(resolved_state)) FROM conflicts").fetchone()
    assert row is not None and len(row[0]) == 1024
    # The entries kept are those with the greatest counters: the nodes of events 2 to 5.
    assert min(row[0].values()) == 2 * 1000 + 1 and max(row[0].values()) == 5 * 1000 + 256
    assert biggest is not None and (biggest[0] or 0) < 5 * 65_536
    assert count(emr_settings.database_url, "processed_events") == 6 + len(after)
    [letter] = dead_letters(emr_settings, 1, then_none=True)
    assert b"max_node_id_chars" in _headers(letter)["emr.dlq.reason"]


def test_a_state_too_large_to_publish_is_set_aside_and_blocks_nobody(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    # Case 5: a 1.18 MB state failed the relay every tick and held every later state.
    # Valid events, each within every input bound, that together make a state of about
    # 930 KB: a description of 65,536 characters that JSON writes as 12 bytes each
    # (\\ud834\\udd1e), and a merged clock of 1,024 node ids of 128 characters.
    huge = "\U0001d11e" * 65_536
    task_id = uuid.uuid4()
    producer = EventProducer(emr_settings.librdkafka())
    topic = emr_settings.kafka.tasks_topic
    for n in range(4):
        wide = {f"{n}-{i:04}-".ljust(128, "x"): i + 1 for i in range(256)}
        payload = {**TEMPLATE.to_avro()["payload"][1], "description": huge if n == 3 else "ok"}
        big_event, value = _fresh(task_id, seconds_ago=60 - n, vector_clock=wide,
                                  payload=payload)
        producer.produce(topic, key=str(task_id).encode(), value=value)
    small = synthetic(3, seed=125)
    for event in small:
        producer.produce(topic, key=str(event.aggregate_id).encode(), value=encode(event))
    producer.flush()
    # The description is plain text: it is in the state only where plain PHI may be.
    processor_factory.extra_env["EMR_STREAMS_PHI_PUBLISH_PLAINTEXT"] = "true"
    processor = _run_until_consumed(emr_settings, processor_factory)
    url = emr_settings.database_url
    wait_for(lambda: _one(url, "SELECT count(*) FROM state_outbox "
                               "WHERE set_aside_at IS NULL") == 0,
             timeout=60, what="every publishable state relayed", on_timeout=processor.output)
    metrics = processor.http("/metrics")[1]
    assert processor.stop() == 0
    assert _one(url, "SELECT aggregate_id FROM state_outbox WHERE set_aside_at IS NOT NULL "
                     "AND set_aside_reason LIKE 'state of % bytes is larger than 900000'"
                ) == big_event.aggregate_id
    assert "emr_streams_outbox_set_aside 1.0" in metrics
    state_topic = f"{emr_settings.kafka.state_topic_prefix}.tasks.v1"
    with RangeReader(emr_settings.librdkafka(), state_topic) as reader:
        ranges = [PartitionRange(p, *reader.watermarks(p)) for p in reader.partitions()]
        keys = {r.key for batch in reader.read(ranges) for r in batch}
    assert {str(e.aggregate_id).encode() for e in small} <= keys
    assert str(big_event.aggregate_id).encode() not in keys


def _one(url: str, query: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def test_a_dead_letter_repeated_after_a_crash_is_recorded_and_redriven_once(
        emr_settings: Settings) -> None:
    # Case 7: kill -9 between the dead letter and the offset commit repeats the dead
    # letter on its topic; the database must hold it once and redrive must send it once.
    # The crash window is reproduced exactly: the same batch processed twice.
    topic = emr_settings.kafka.tasks_topic
    good = synthetic(6, seed=126)
    batch = [ConsumedRecord(topic=topic, partition=0, offset=i,
                            key=str(e.aggregate_id).encode(), value=encode(e))
             for i, e in enumerate(good)]
    batch.insert(2, ConsumedRecord(topic=topic, partition=0, offset=100, key=None,
                                   value=b"\xc3\x01junk"))
    batch.insert(5, ConsumedRecord(topic=topic, partition=0, offset=101, key=None,
                                   value=b"\x00\x00"))
    with ConnectionPool(emr_settings.database_url, min_size=1, max_size=2,
                        kwargs={"autocommit": True}, open=True) as pool:
        processor = BatchProcessor(pool, EventProducer(emr_settings.librdkafka()), CODEC)
        first = processor.process(batch)
        again = processor.process(batch)  # the restart after the crash
    assert len(first.poison) == len(again.poison) == 2 and again.duplicates == 6
    assert len(dead_letters(emr_settings, 4, then_none=True)) == 4  # repeats on the topic
    url = emr_settings.database_url
    assert _one(url, "SELECT count(*) FROM dead_letters") == 2  # the database: once each
    done = cli(emr_settings, "dlq", "redrive", "--topic", topic, "--from-offset", "0",
                "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"redriven": 2, "skipped": 2}
    again_cli = cli(emr_settings, "dlq", "redrive", "--topic", topic, "--from-offset", "0",
                     "--json")
    assert json.loads(again_cli.stdout) == {"redriven": 0, "skipped": 4}


def test_a_defect_that_refuses_every_record_pauses_instead_of_flooding_the_dlq(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    # The audit partition of this month is gone (a maintenance job that never ran; on
    # TimescaleDB, whose chunks come with the rows, a broken trigger): every record is
    # refused. The breaker pauses the topic, /readyz says why, nothing is dead-lettered;
    # once the defect is fixed, everything is applied.
    url = emr_settings.database_url
    with psycopg.connect(url, autocommit=True) as conn:
        timescaledb = _one(url, "SELECT audit_backend()") == "timescaledb"
        if timescaledb:
            conn.execute("CREATE FUNCTION broken_audit() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$BEGIN RAISE EXCEPTION 'a broken audit trigger' "
                         "USING ERRCODE = 'check_violation'; END$$")
            conn.execute("CREATE TRIGGER broken_audit BEFORE INSERT ON audit_logs "
                         "FOR EACH ROW EXECUTE FUNCTION broken_audit()")
        else:
            conn.execute(f"DROP TABLE audit_logs_p{clock.now():%Y%m}")  # type: ignore[arg-type]
    events = synthetic(120, seed=127)
    producer = EventProducer(emr_settings.librdkafka())
    for event in events:
        producer.produce(emr_settings.kafka.tasks_topic, key=str(event.aggregate_id).encode(),
                         value=encode(event))
    producer.flush()
    processor_factory.extra_env.update({"EMR_STREAMS_PROCESSOR_POISON_BREAKER": "20",
                                        "EMR_STREAMS_PROCESSOR_MAINTENANCE": "false"})
    processor = processor_factory.start()
    wait_for(lambda: processor.http("/readyz")[1].startswith("paused"), timeout=120,
             what="the breaker open", on_timeout=processor.output)
    assert processor.http("/healthz")[0] == 200
    assert "emr_streams_poison_breaker_open{topic=" in processor.http("/metrics")[1]
    assert _one(url, "SELECT count(*) FROM dead_letters") == 0
    with psycopg.connect(url, autocommit=True) as conn:
        if timescaledb:
            conn.execute("DROP TRIGGER broken_audit ON audit_logs")
        else:
            conn.execute("SELECT count(*) FROM audit_logs_ensure_partitions()")
    wait_for(lambda: lag(emr_settings) == 0, timeout=120, what="everything applied",
             on_timeout=processor.output)
    wait_for(lambda: processor.http("/readyz")[0] == 200, timeout=30, what="ready again")
    assert processor.stop() == 0
    assert count(url, "processed_events") == len(events)
    assert _one(url, "SELECT count(*) FROM dead_letters") == 0
    assert len(dead_letters(emr_settings, 0, then_none=True)) == 0


def test_a_worker_killed_and_restarted_consumes_again_within_seconds(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    # Case 8: after kill -9 the restarted worker consumed nothing for about 60 s (faust's
    # session timeout). With a stable group instance id it rejoins at once.
    processor_factory.extra_env["EMR_STREAMS_KAFKA_GROUP_INSTANCE_ID"] = "worker-0"
    events = synthetic(100, seed=128)  # one adapter run: identities consistent
    first, second = events[:50], events[50:]
    produce(emr_settings, first)
    processor = processor_factory.start()
    wait_for(lambda: lag(emr_settings) == 0, timeout=120, what="the first events consumed",
             on_timeout=processor.output)
    processor.kill()
    produce(emr_settings, second)
    restarted = processor_factory.start()
    started = time.monotonic()
    wait_for(lambda: lag(emr_settings) == 0, timeout=120, what="the restart consuming",
             on_timeout=restarted.output)
    waited = time.monotonic() - started
    assert restarted.stop() == 0
    assert count(emr_settings.database_url, "processed_events") == 100, restarted.output()
    # Process start-up included; the session timeout alone used to be 60 s.
    assert waited < 40, f"{waited:.0f} s before the restarted worker consumed"


_NODE = st.text(alphabet="abcdefghij-0123456789", min_size=1, max_size=129)
_TEXT = st.one_of(st.just(""), st.text(max_size=40),
                  st.integers(65_530, 65_537).map(lambda n: "\u00e9" * n))


@st.composite
def _hostile(draw: st.DrawFn, aggregates: list[uuid.UUID]) -> tuple[bytes | None, list[Any],
                                                                     bytes]:
    """(key, headers, value) of one schema-valid event with adversarial values."""
    task_id = draw(st.sampled_from(aggregates))
    size = draw(st.sampled_from([0, 1, 255, 256, 257]))
    prefix = draw(st.text(alphabet="xyz", min_size=1, max_size=3))
    clock_ = {f"{prefix}{i}".ljust(draw(st.integers(1, 129)), "n"): i + 1 for i in range(size)}
    payload = {**TEMPLATE.to_avro()["payload"][1], "description": draw(_TEXT)}
    _, value = _fresh(task_id, seconds_ago=draw(st.floats(0, 3600)),
                          vector_clock=clock_, payload=payload,
                          origin_node=draw(_NODE))
    key = draw(st.one_of(st.just(str(task_id).encode()), st.none(),
                         st.binary(min_size=0, max_size=10).map(lambda b: b"k" + b)))
    headers = draw(st.lists(st.tuples(st.sampled_from(["trace", "emr.dlq.topic",
                                                       "emr.dlq.reason", "x"]),
                                      st.one_of(st.binary(max_size=20),
                                                st.just(b"h" * 300_000))), max_size=3))
    return key, headers, value


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large, HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_streams_never_stop_the_processor_and_every_offset_ends_once(
        emr_settings: Settings, processor_factory: ProcessorFactory, data: st.DataObject
) -> None:
    if not processor_factory.started:
        processor_factory.start()
    processor = processor_factory.started[0]
    aggregates = [uuid.uuid4() for _ in range(3)]
    batch = data.draw(st.lists(_hostile(aggregates), min_size=1, max_size=12))
    producer = EventProducer({**emr_settings.librdkafka(), "message.max.bytes": "3000000"})
    for key, headers, value in batch:
        producer.produce(emr_settings.kafka.tasks_topic, key=key, value=value,
                         headers=headers, partition=0)
    producer.flush()
    wait_for(lambda: lag(emr_settings) == 0, timeout=120, what="the hostile batch consumed",
             on_timeout=processor.output)
    assert processor.process.poll() is None and processor.http("/healthz")[0] == 200
    with psycopg.connect(emr_settings.database_url) as conn:
        applied = [r[0] for r in conn.execute(
            'SELECT "offset" FROM processed_events WHERE "partition" = 0').fetchall()]
        lettered = [r[0] for r in conn.execute(
            "SELECT source_offset FROM dead_letters WHERE source_partition = 0").fetchall()]
    with RangeReader(emr_settings.librdkafka(), emr_settings.kafka.tasks_topic) as reader:
        high = reader.watermarks(0)[1]
    # Every offset of the partition is in exactly one place (event ids are all distinct).
    assert sorted(applied + lettered) == list(range(high))
