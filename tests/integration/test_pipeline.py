"""The walking skeleton end to end: Kafka → faust agent → PostgreSQL, with restarts."""

from __future__ import annotations

import psycopg
import pytest

from streams.config import Settings
from tests.fixtures.processor import ProcessorFactory, wait_for
from tests.integration.helpers import (
    committed_total,
    count,
    dead_letters,
    encode,
    lag,
    produce,
    synthetic,
)

pytestmark = pytest.mark.integration


def _expected_tasks(events: list) -> int:
    return len({e.aggregate_id for e in events})


def _final_statuses(events: list) -> dict:
    """Each task's status after its events in the order one adapter made them."""
    status: dict = {}
    for e in events:
        written = {"TASK_CREATED": getattr(e.payload, "status", None),
                   "TASK_STATUS_CHANGED": getattr(e.payload, "status", None),
                   "TASK_COMPLETED": "COMPLETED", "TASK_CANCELLED": "CANCELLED"}
        new = written.get(e.event_type)
        status.setdefault(e.aggregate_id, "PENDING")
        if new is not None:
            status[e.aggregate_id] = new
    return status


def test_produced_events_become_rows(emr_settings: Settings,
                                     processor_factory: ProcessorFactory) -> None:
    events = synthetic(600)
    produce(emr_settings, events)
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: count(url, "processed_events") == len(events), timeout=90,
             what="every event applied", on_timeout=processor.output)
    wait_for(lambda: lag(emr_settings) == 0, timeout=30, what="offsets committed",
             on_timeout=processor.output)
    assert processor.stop() == 0, processor.output()
    assert count(url, "processed_events") == len(events)
    assert count(url, "tasks") == _expected_tasks(events)
    with psycopg.connect(url) as conn:
        rows = dict(conn.execute("SELECT id, status::text FROM tasks").fetchall())
        audit = conn.execute("SELECT count(DISTINCT event_id) FROM audit_logs").fetchone()
    assert rows == _final_statuses(events)
    assert audit == (len(events),)


def test_graceful_restart_resumes_from_committed_offsets(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    url = emr_settings.database_url
    events = synthetic(1000, seed=1)  # one source: consistent identities across halves
    first, second = events[:500], events[500:]
    produce(emr_settings, first)
    processor = processor_factory.start()
    wait_for(lambda: count(url, "processed_events") == len(first), timeout=90,
             what="the first half applied", on_timeout=processor.output)
    assert processor.stop() == 0, processor.output()
    # A graceful stop commits exactly what was applied: nothing will be read twice.
    assert committed_total(emr_settings) == len(first)

    produce(emr_settings, second)
    restarted = processor_factory.start()
    wait_for(lambda: lag(emr_settings) == 0, timeout=90, what="the second half consumed",
             on_timeout=restarted.output)
    assert restarted.stop() == 0, restarted.output()
    assert count(url, "processed_events") == len(first) + len(second)
    assert committed_total(emr_settings) == len(first) + len(second)
    assert count(url, "tasks") == _expected_tasks(first + second)


def test_kill_9_mid_stream_loses_and_duplicates_nothing(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    url = emr_settings.database_url
    events = synthetic(3000, seed=3)
    produce(emr_settings, events)
    processor = processor_factory.start()
    wait_for(lambda: count(url, "processed_events") >= 400, timeout=90,
             what="processing under way", interval=0.05, on_timeout=processor.output)
    processor.kill()
    applied_at_kill = count(url, "processed_events")
    # Offsets never run ahead of the database: whatever is committed was applied.
    assert committed_total(emr_settings) <= applied_at_kill

    restarted = processor_factory.start()
    wait_for(lambda: lag(emr_settings) == 0, timeout=120, what="the rest consumed",
             on_timeout=restarted.output)
    assert restarted.stop() == 0, restarted.output()
    assert count(url, "processed_events") == len(events)
    assert count(url, "tasks") == _expected_tasks(events)


def test_poison_goes_to_the_dead_letter_topic_and_the_stream_goes_on(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    url = emr_settings.database_url
    good = synthetic(50, seed=4)
    truncated = encode(good[0])[:-7]
    poison = [b"\x00\xffnot json", b'{"event_id": "nope"}', truncated]
    expected_errors = {b"\x00\xffnot json": b"UnknownSchemaError",
                       b'{"event_id": "nope"}': b"UnknownSchemaError",
                       truncated: b"TruncatedMessageError"}
    produce(emr_settings, good[:25], raw=poison)
    produce(emr_settings, good[25:])
    processor = processor_factory.start()
    wait_for(lambda: lag(emr_settings) == 0, timeout=90, what="everything consumed",
             on_timeout=processor.output)
    assert processor.stop() == 0, processor.output()
    assert count(url, "processed_events") == len(good)

    seen = dead_letters(emr_settings, len(poison))
    assert sorted(m.value() for m in seen) == sorted(poison)
    for message in seen:
        headers = dict(message.headers())
        assert headers["source"] == b"fuzz"  # original headers kept
        assert headers["emr.dlq.stage"] == b"decode"
        assert headers["emr.dlq.error_class"] == expected_errors[message.value()]
        assert headers["emr.dlq.topic"] == emr_settings.kafka.tasks_topic.encode()
        assert headers["emr.dlq.reason"]
        assert int(headers["emr.dlq.offset"]) >= 0
