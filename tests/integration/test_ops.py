"""Operator commands against the real stack: replay, dlq, offsets, topics, status."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from streams.config import Settings
from streams.contracts import AvroCodec, SchemaCatalogue
from streams.contracts.catalogue import default_schemas_dir
from streams.kafka.admin import delete_topics
from streams.kafka.producer import EventProducer
from streams.kafka.reader import PartitionRange, RangeReader
from streams.sink import apply_batch
from streams.topology import dead_letter_topic
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.kafka import TopicFactory
from tests.fixtures.processor import ProcessorFactory, wait_for
from tests.integration.helpers import (
    CODEC,
    cli,
    cli_env,
    count,
    lag,
    produce,
    records,
    synthetic,
    table_state,
)

pytestmark = pytest.mark.integration


def _live(settings: Settings, events: list, database_factory: DatabaseFactory) -> str:
    """Produce *events* and build the 'live' database from them directly."""
    produce(settings, events)
    url = database_factory()
    with psycopg.connect(url, autocommit=True) as conn:
        apply_batch(conn, records(events), codec=CODEC)
    return url


def test_replay_into_a_fresh_database_matches_the_live_state(
        emr_settings: Settings, database_factory: DatabaseFactory, tmp_path: Path) -> None:
    events = synthetic(1500, seed=41, concurrent_rate=0.05)
    live = _live(emr_settings, events, database_factory)
    fresh = database_factory()
    dry = cli(emr_settings, "replay", "--topic", emr_settings.kafka.tasks_topic, "--dry-run",
               "--json", EMR_STREAMS_POSTGRES_URL=fresh)
    assert dry.returncode == 0, dry.stderr
    payload = json.loads(dry.stdout)
    assert payload["read"] == len(events) and len(payload["sample"]) == 5
    assert count(fresh, "processed_events") == 0  # a dry run writes nothing
    result = cli(emr_settings, "replay", "--topic", emr_settings.kafka.tasks_topic,
                  "--checkpoint", str(tmp_path / "cp.json"), EMR_STREAMS_POSTGRES_URL=fresh)
    assert result.returncode == 0, result.stderr
    assert f"read {len(events)} records" in result.stdout
    assert "ETA" in result.stderr  # the progress bar
    assert table_state(fresh) == table_state(live)
    assert count(fresh, "audit_logs") == len(events)
    # Replaying again (into the same database) changes nothing.
    again = cli(emr_settings, "replay", "--topic", emr_settings.kafka.tasks_topic, "--json",
                 "--checkpoint", str(tmp_path / "cp2.json"), EMR_STREAMS_POSTGRES_URL=fresh)
    assert json.loads(again.stdout)["duplicates"] == len(events)
    assert table_state(fresh) == table_state(live)


#: The advisory lock that holds an interrupted replay at a known point.
_GATE = 7_303_001
_HOLD_AFTER_300 = """
CREATE FUNCTION test_replay_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM processed_events) >= 300 THEN
        PERFORM pg_advisory_xact_lock(7303001);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER test_replay_gate BEFORE INSERT ON processed_events
    FOR EACH STATEMENT EXECUTE FUNCTION test_replay_gate();
"""


def test_an_interrupted_replay_resumes_where_it_stopped(
        emr_settings: Settings, database_factory: DatabaseFactory, tmp_path: Path) -> None:
    events = synthetic(2000, seed=42)
    live = _live(emr_settings, events, database_factory)
    fresh = database_factory()
    checkpoint = tmp_path / "replay.json"
    with psycopg.connect(fresh, autocommit=True) as gate:
        # No race with the signal: once 300 events are in, the replay's next batch waits
        # for a lock this test holds, so SIGINT always finds it in the middle.
        gate.execute("SELECT pg_advisory_lock(%s)", (_GATE,))
        gate.execute(_HOLD_AFTER_300)
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "replay", "--topic",
             emr_settings.kafka.tasks_topic, "--batch-size", "50",
             "--checkpoint", str(checkpoint)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=cli_env(emr_settings, EMR_STREAMS_POSTGRES_URL=fresh))
        try:
            wait_for(lambda: _one(gate, "SELECT count(*) FROM pg_stat_activity "
                                        "WHERE wait_event = 'advisory' "
                                        "AND datname = current_database()") == 1,
                     timeout=120, what="the replay held at the gate")
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        gate.execute("DROP TRIGGER test_replay_gate ON processed_events; "
                     "DROP FUNCTION test_replay_gate()")
        gate.execute("SELECT pg_advisory_unlock(%s)", (_GATE,))
    assert process.returncode == 130, stderr
    assert "resume with: emr-streams replay --resume" in stderr
    done = count(fresh, "processed_events")
    assert 300 <= done < len(events)
    resumed = cli(emr_settings, "replay", "--resume", str(checkpoint), "--json",
                   EMR_STREAMS_POSTGRES_URL=fresh)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["read"] == len(events) - done  # it did not start over
    assert table_state(fresh) == table_state(live)
    assert not checkpoint.exists()


def _one(conn: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def test_replay_into_another_topic_keeps_keys_headers_and_timestamps(
        emr_settings: Settings, topic_factory: TopicFactory) -> None:
    producer = EventProducer(emr_settings.librdkafka())
    for i in range(30):
        producer.produce(emr_settings.kafka.tasks_topic, key=f"k{i}".encode(),
                         value=f"v{i}".encode(), headers=[("h", str(i).encode())],
                         timestamp_ms=1_700_000_000_000 + i, partition=i % 3)
    producer.flush()
    target = topic_factory(partitions=3)
    result = cli(emr_settings, "replay", "--topic", emr_settings.kafka.tasks_topic,
                  "--into", "topic", "--target-topic", target, "--partition", "1", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["produced"] == 10
    with RangeReader(emr_settings.librdkafka(), target) as reader:
        ranges = [PartitionRange(p, *reader.watermarks(p)) for p in reader.partitions()]
        copied = [r for batch in reader.read(ranges) for r in batch]
    assert sorted((r.key, r.value, tuple(r.headers), r.timestamp_ms) for r in copied) == sorted(
        (f"k{i}".encode(), f"v{i}".encode(), (("h", str(i).encode()),),
         1_700_000_000_000 + i) for i in range(30) if i % 3 == 1)


@pytest.mark.parametrize(("args", "message"), [
    (["--into", "nowhere"], "--into must be database or topic"),
    (["--from-offset", "1", "--from-timestamp", "2026-01-01T00:00:00+0000"], "not both"),
    (["--into", "topic"], "needs --target-topic"),
    (["--partition", "7"], "has no partition 7"),
])
def test_replay_bad_arguments_are_one_line_errors(emr_settings: Settings, args: list[str],
                                                  message: str) -> None:
    result = cli(emr_settings, "replay", "--topic", emr_settings.kafka.tasks_topic, *args)
    assert result.returncode in {1, 2}
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_find_fix_and_redrive_a_poison_message(
        emr_settings: Settings, processor_factory: ProcessorFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An adapter upgraded to a task_event v3 before the processor had the schema.
    schemas = tmp_path / "schemas"
    shutil.copytree(default_schemas_dir(), schemas)
    raw = json.loads((schemas / "task_event" / "v2.avsc").read_text())
    raw["fields"].insert(-1, {"name": "ward", "type": ["null", "string"], "default": None})
    (schemas / "task_event" / "v3.avsc").write_text(json.dumps(raw))
    new_codec = AvroCodec(SchemaCatalogue(schemas))
    good = synthetic(20, seed=43)
    upgraded = good[0].model_copy(update={"event_id": good[0].event_id.__class__(
        int=good[0].event_id.int ^ 7)})
    producer = EventProducer(emr_settings.librdkafka())
    for event in good:
        producer.produce(emr_settings.kafka.tasks_topic, key=str(event.aggregate_id).encode(),
                         value=CODEC.encode("task_event", event.to_avro()))
    producer.produce(emr_settings.kafka.tasks_topic, key=str(upgraded.aggregate_id).encode(),
                     value=new_codec.encode("task_event", upgraded.to_avro() | {"ward": "4B"}))
    producer.flush()
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: lag(emr_settings) == 0, timeout=90, what="consumed",
             on_timeout=processor.output)
    assert processor.stop() == 0
    listed = cli(emr_settings, "dlq", "list", "--topic", emr_settings.kafka.tasks_topic,
                  "--json")
    assert listed.returncode == 0, listed.stderr
    [letter] = json.loads(listed.stdout)
    assert letter["error_class"] == "UnknownSchemaError" and not letter["redriven"]
    shown = cli(emr_settings, "dlq", "show", str(letter["offset"]), "--topic",
                 emr_settings.kafka.tasks_topic)
    assert shown.returncode == 0 and "unknown schema fingerprint" in shown.stdout
    # The fix: deploy the new schema to the processor, then redrive.
    monkeypatch.setenv("EMR_STREAMS_KAFKA_SCHEMAS_DIR", str(schemas))
    fixed = processor_factory.start()
    redriven = cli(emr_settings, "dlq", "redrive", "--topic", emr_settings.kafka.tasks_topic,
                    "--reason", "fingerprint", "--operator", "on call: A. Nurse", "--json",
                    USER="someone-else")
    assert redriven.returncode == 0, redriven.stderr
    assert json.loads(redriven.stdout) == {"redriven": 1, "skipped": 0}
    wait_for(lambda: count(url, "processed_events") == len(good) + 1, timeout=90,
             what="the redriven event applied", on_timeout=fixed.output)
    assert fixed.stop() == 0
    twice = cli(emr_settings, "dlq", "redrive", "--topic", emr_settings.kafka.tasks_topic,
                 "--reason", "fingerprint", "--json")
    assert json.loads(twice.stdout) == {"redriven": 0, "skipped": 1}
    relisted = json.loads(cli(emr_settings, "dlq", "list", "--topic",
                               emr_settings.kafka.tasks_topic, "--json").stdout)
    assert relisted[0]["redriven"] is True
    # A forced redrive adds to the history; the first record stays as it was.
    again = cli(emr_settings, "dlq", "redrive", "--topic", emr_settings.kafka.tasks_topic,
                "--reason", "fingerprint", "--force", "--json")
    assert json.loads(again.stdout) == {"redriven": 1, "skipped": 0}, again.stderr
    with psycopg.connect(url) as conn:
        trail = conn.execute("SELECT target_topic, reason, redriven_by, operator_note "
                             "FROM dlq_redrives ORDER BY id").fetchall()
        role = conn.execute("SELECT session_user").fetchone()
    assert role is not None
    # Who is the database role, whatever USER the client claims; the note sits beside it.
    assert trail == [(emr_settings.kafka.tasks_topic, letter["reason"], role[0],
                      "on call: A. Nurse"),
                     (emr_settings.kafka.tasks_topic, letter["reason"], role[0], None)]
    assert cli(emr_settings, "dlq", "redrive", "--topic",
                emr_settings.kafka.tasks_topic).returncode == 2  # nothing selected
    too_long = cli(emr_settings, "dlq", "redrive", "--topic", emr_settings.kafka.tasks_topic,
                   "--reason", "x", "--operator", "n" * 201)
    assert too_long.returncode == 2 and len(too_long.stderr.strip().splitlines()) == 1


def test_offsets_show_and_reset(emr_settings: Settings,
                                processor_factory: ProcessorFactory) -> None:
    events = synthetic(300, seed=44)
    produce(emr_settings, events)
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: lag(emr_settings) == 0, timeout=90, what="consumed",
             on_timeout=processor.output)
    topic = emr_settings.kafka.tasks_topic
    refused = cli(emr_settings, "offsets", "reset", "--topic", topic, "--to", "earliest")
    assert refused.returncode == 1 and "active member" in refused.stderr
    assert processor.stop() == 0
    before = table_state(url)
    shown = json.loads(cli(emr_settings, "offsets", "show", "--json").stdout)
    assert sum(p["lag"] for p in shown if p["topic"] == topic) == 0
    reset = cli(emr_settings, "offsets", "reset", "--topic", topic, "--to", "earliest",
                 "--json")
    assert reset.returncode == 0, reset.stderr
    assert lag(emr_settings) == len(events)
    again = processor_factory.start()  # re-reads everything: all duplicates
    wait_for(lambda: lag(emr_settings) == 0, timeout=90, what="re-consumed",
             on_timeout=again.output)
    assert again.stop() == 0
    assert table_state(url) == before and count(url, "audit_logs") == len(events)
    bad = cli(emr_settings, "offsets", "reset", "--topic", topic, "--to", "offset")
    assert bad.returncode == 2 and "--value" in bad.stderr


def test_topics_describe_and_status(emr_settings: Settings) -> None:
    described = cli(emr_settings, "topics", "describe", "--json")
    assert described.returncode == 0, described.stderr
    rows = json.loads(described.stdout)
    assert len(rows) == 9 and all(r["exists"] for r in rows)
    compacted = [r for r in rows if r["config"].get("cleanup.policy") == "compact"]
    assert len(compacted) == 3
    producer = EventProducer(emr_settings.librdkafka())
    producer.produce(dead_letter_topic(emr_settings.kafka.tasks_topic), key=None, value=b"x",
                     headers=[("emr.dlq.reason", b"example reason")])
    producer.flush()
    status = cli(emr_settings, "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["database_ok"] is True
    tasks = next(t for t in report["topics"] if t["topic"] == emr_settings.kafka.tasks_topic)
    assert tasks["dead_letters"] == 1 and "example reason" in tasks["recent_errors"][0]
    down = cli(emr_settings, "status", "--json",
                EMR_STREAMS_POSTGRES_URL="postgresql://nobody@127.0.0.1:1/none")
    assert down.returncode == 1 and json.loads(down.stdout)["database_ok"] is False
    state = f"{emr_settings.kafka.state_topic_prefix}.tasks.v1"
    delete_topics(emr_settings.bootstrap_servers, [state])
    time.sleep(1)
    missing = cli(emr_settings, "topics", "describe")
    assert missing.returncode == 1 and f"MISSING  {state}" in missing.stdout
