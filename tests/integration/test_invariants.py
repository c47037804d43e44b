"""DESIGN.md's invariants, one test each, through real Kafka, faust and PostgreSQL."""

from __future__ import annotations

import json
import random
import time

import psycopg
import pytest
from confluent_kafka import Consumer

from streams.config import Settings
from streams.contracts.models import (
    HandoverAccepted,
    HandoverEvent,
    TaskEvent,
    TaskStatusChanged,
    VerificationEvent,
    VerificationVerified,
)
from streams.devstack import LocalStack
from streams.sink import apply_batch
from streams.topology import dead_letter_topic, state_topic
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.processor import ProcessorFactory, wait_for
from tests.fixtures.services import Services, services_required
from tests.integration.helpers import (
    CODEC,
    committed_total,
    count,
    encode,
    lag,
    produce,
    records,
    synthetic,
    table_state,
)
from tests.state_contract import assert_valid_state
from tests.unit.events_fixtures import every_event

pytestmark = pytest.mark.integration


def _read_all(settings: Settings, topic: str, expected: int, timeout: float = 30
              ) -> list[tuple[bytes | None, bytes | None, dict]]:
    consumer = Consumer({**settings.librdkafka(), "group.id": f"reader-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                out.append((message.key(), message.value(), dict(message.headers() or [])))
    finally:
        consumer.close()
    return out


def _metric(body: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in body.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line
                                                for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{wanted}}} in /metrics")


def test_invariant_1_nothing_lost_every_record_counted(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    good = synthetic(400, seed=31)
    duplicates = good[::10]
    poison = [b"\xc3\x01" + b"\x00" * 12, b"not avro at all", encode(good[0])[:-5]]
    produce(emr_settings, good[:200], raw=poison)
    produce(emr_settings, good[200:] + duplicates)
    processor = processor_factory.start()
    url, topic = emr_settings.database_url, emr_settings.kafka.tasks_topic
    wait_for(lambda: lag(emr_settings) == 0, timeout=120, what="everything consumed",
             on_timeout=processor.output)
    status, metrics = processor.http("/metrics")
    assert status == 200
    assert processor.stop() == 0, processor.output()
    produced = len(good) + len(duplicates) + len(poison)
    with psycopg.connect(url) as conn:
        ledger = dict(conn.execute("SELECT outcome, count(*) FROM processed_events "
                                   "GROUP BY outcome").fetchall())
    dead = _read_all(emr_settings, dead_letter_topic(topic), len(poison))
    # applied + no-op + dead-lettered = produced, exactly.
    assert sum(ledger.values()) + len(duplicates) + len(dead) == produced
    assert sum(ledger.values()) == len(good) and len(dead) == len(poison)
    assert sorted(v for _, v, _ in dead) == sorted(poison)
    consumed = _metric(metrics, "emr_streams_events_total", topic=topic, outcome="consumed")
    parts = sum(_metric(metrics, "emr_streams_events_total", topic=topic, outcome=o)
                for o in ("applied", "stale", "concurrent", "duplicate", "dead_lettered"))
    assert consumed == parts == produced


def test_invariant_2_replaying_the_whole_topic_changes_nothing(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    events = synthetic(500, seed=32, concurrent_rate=0.05) + every_event()
    produce(emr_settings, events)
    first = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: count(url, "processed_events") == len(events), timeout=120,
             what="everything applied", on_timeout=first.output)
    assert first.stop() == 0, first.output()
    before = table_state(url)
    audit_before = count(url, "audit_logs")
    # An operator's replay: a new consumer group reads every topic from offset 0.
    replay_settings = emr_settings.model_copy(update={"kafka": emr_settings.kafka.model_copy(
        update={"group_id": f"{emr_settings.kafka.group_id}-replay"})})
    processor_factory.settings = replay_settings
    replay = processor_factory.start()
    wait_for(lambda: lag(replay_settings) == 0, timeout=120, what="the replay consumed",
             on_timeout=replay.output)
    assert replay.stop() == 0, replay.output()
    assert table_state(url) == before
    assert count(url, "audit_logs") == audit_before == len(events)
    assert count(url, "processed_events") == len(events)


def test_invariant_3_order_across_partitions_does_not_matter(
        emr_settings: Settings, processor_factory: ProcessorFactory,
        database_factory: DatabaseFactory) -> None:
    events = synthetic(600, seed=33, concurrent_rate=0.1)
    rng = random.Random(33)
    shuffled = events[:]
    rng.shuffle(shuffled)
    produce(emr_settings, shuffled, partitions=[rng.randrange(3) for _ in shuffled])
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: count(url, "processed_events") == len(events), timeout=120,
             what="everything applied", on_timeout=processor.output)
    assert processor.stop() == 0, processor.output()
    reference = database_factory()
    with psycopg.connect(reference, autocommit=True) as conn:
        apply_batch(conn, records(events), codec=CODEC)
    assert table_state(url) == table_state(reference)
    assert count(url, "conflicts") > 0


def test_invariant_4_postgres_restart_mid_stream_loses_and_duplicates_nothing(
        emr_settings: Settings, processor_factory: ProcessorFactory, services: Services,
        stack_settings: object) -> None:
    if services.external:
        pytest.skip("the servers were given by KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL: "
                    "the suite does not restart a server it does not own")
    stack = LocalStack(stack_settings)  # type: ignore[arg-type]
    if stack.postgres.pid() is None:
        if services_required():
            pytest.fail("the PostgreSQL restart test needs the local stack's server")
        pytest.skip("PostgreSQL is not the local stack's: cannot restart it")
    url = emr_settings.database_url
    events = synthetic(3000, seed=34)
    produce(emr_settings, events)
    processor = processor_factory.start()
    wait_for(lambda: count(url, "processed_events") >= 300, timeout=90,
             what="processing under way", interval=0.05, on_timeout=processor.output)
    stack.postgres.stop()
    time.sleep(5)
    assert processor.process.poll() is None, "a database outage must not stop the worker"
    stack.postgres.start()
    wait_for(lambda: lag(emr_settings) == 0, timeout=180, what="the rest after the restart",
             on_timeout=processor.output)
    assert processor.stop() == 0, processor.output()
    assert count(url, "processed_events") == len(events)
    assert count(url, "audit_logs") == len(events)
    assert _read_all(emr_settings, dead_letter_topic(emr_settings.kafka.tasks_topic), 1,
                     timeout=3) == []


def test_invariant_4_rebalance_with_one_of_two_processors_killed(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    url = emr_settings.database_url
    events = synthetic(4000, seed=35)
    first = processor_factory.start()
    second = processor_factory.start()
    wait_for(lambda: first.http("/readyz")[0] == 200 and second.http("/readyz")[0] == 200,
             timeout=60, what="both processors ready", on_timeout=first.output)
    produce(emr_settings, events)
    wait_for(lambda: count(url, "processed_events") >= 800, timeout=90,
             what="processing under way", interval=0.05, on_timeout=second.output)
    second.kill()
    wait_for(lambda: lag(emr_settings) == 0, timeout=180,
             what="the survivor took over every partition", on_timeout=first.output)
    assert first.stop() == 0, first.output()
    assert count(url, "processed_events") == len(events)
    assert count(url, "audit_logs") == len(events)
    assert committed_total(emr_settings) == len(events)


def test_invariant_6_references_to_unknown_entities_arrive_first(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    fixtures = every_event()
    # Only changes of aggregates nobody created, referencing entities nobody saw.
    late = [e for e in fixtures
            if isinstance(e.payload, TaskStatusChanged | HandoverAccepted
                          | VerificationVerified)]
    assert {type(e) for e in late} == {TaskEvent, HandoverEvent, VerificationEvent}
    produce(emr_settings, late)
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: count(url, "processed_events") == len(late), timeout=90,
             what="the late events applied", on_timeout=processor.output)
    assert processor.stop() == 0, processor.output()
    state = table_state(url)
    assert len(state["tasks"]) == 2  # the changed task and the verified one
    assert len(state["handovers"]) == 1 and len(state["emr_verifications"]) == 1
    assert len(state["shifts"]) == 2 and len(state["patients"]) == 1
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status::text FROM handovers").fetchone()
    assert row == ("ACCEPTED",)


def test_an_agent_failure_crashes_the_worker_and_commits_nothing_past_it(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    url = emr_settings.database_url
    first, second = synthetic(300, seed=36)[:150], synthetic(300, seed=36)[150:]
    produce(emr_settings, first)
    processor = processor_factory.start()
    wait_for(lambda: committed_total(emr_settings) == len(first), timeout=90,
             what="the first half committed", on_timeout=processor.output)
    with psycopg.connect(url, autocommit=True) as conn:
        # A fault no retry can fix and no single record causes: a programming error
        # (undefined_table) on every insert into the ledger. Not a RENAME of the table:
        # statements psycopg has already prepared refer to it by OID and go on working,
        # so a batch could still commit after the "fault". (154 of 150 was also seen with
        # this trigger: faust re-enabled acks when the crashed agent's take loop closed;
        # streams/agents/ingest.py now keeps them off.)
        conn.execute("CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'injected fault' USING ERRCODE = "
                     "'undefined_table'; END $$")
        conn.execute("CREATE TRIGGER injected_fault BEFORE INSERT ON processed_events "
                     "FOR EACH STATEMENT EXECUTE FUNCTION injected_fault()")
    produce(emr_settings, second)
    wait_for(lambda: processor.process.poll() is not None, timeout=90,
             what="the worker to crash", on_timeout=processor.output)
    assert processor.process.returncode != 0
    assert "crashed" in processor.output()
    assert committed_total(emr_settings) == len(first)  # nothing acked past the failure
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER injected_fault ON processed_events")
    restarted = processor_factory.start()
    wait_for(lambda: lag(emr_settings) == 0, timeout=90, what="recovery after the fix",
             on_timeout=restarted.output)
    assert restarted.stop() == 0, restarted.output()
    assert count(url, "processed_events") == len(first) + len(second)


def test_merged_state_is_published_once_committed(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    events = synthetic(300, seed=37)
    produce(emr_settings, events)
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: count(url, "processed_events") == len(events)
             and count(url, "state_outbox") == 0, timeout=120,
             what="applied and relayed", on_timeout=processor.output)
    assert processor.http("/healthz")[0] == 200
    assert processor.http("/readyz")[0] == 200
    assert processor.stop() == 0, processor.output()
    tasks = {str(row["id"]): row for row in table_state(url)["tasks"]}
    published = _read_all(emr_settings, state_topic(emr_settings, "task"), 10**6, timeout=8)
    latest: dict[str, dict] = {}
    for key, value, headers in published:
        assert key is not None and value is not None
        assert headers["content-type"] == b"application/json"
        latest[key.decode()] = json.loads(value)
    assert set(latest) == set(tasks)
    for task_id, state in latest.items():
        assert_valid_state(state)  # what consumers get is the documented contract
        assert state["status"] == tasks[task_id]["status"]
        assert state["last_event_id"] == str(tasks[task_id]["last_event_id"])
