"""Hostile input through the real BatchProcessor, PostgreSQL and dead-letter topic: every
offset is applied with its exact value, a duplicate, or dead-lettered with a reason."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
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
from streams.kafka.producer import EventProducer
from streams.kafka.schema_registry import codec_for
from streams.sink import ConsumedRecord
from streams.sink.dead_letter import VALUE_OMITTED_HEADER
from streams.sink.processor import BatchProcessor
from tests.integration.helpers import dead_letters, encode, synthetic
from tests.unit.events_fixtures import every_event

pytestmark = pytest.mark.integration

WRITER = AvroCodec(SchemaCatalogue(), limits=None)  # writes what a hostile producer would
TEMPLATE = every_event()[0]
assert isinstance(TEMPLATE, TaskEvent)
MAX_CHARS = 65_536  # the default max_string_chars the processor runs with
SQL_LIKE = ["'; DROP TABLE tasks; --", "Robert'); DROP TABLE patients;--",
            "$$ LANGUAGE sql; SELECT pg_sleep(30); $$", "1' OR '1'='1",
            "E'\\\\'; DELETE FROM audit_logs; --", "%s %(x)s $1 {0} \\N"]


@pytest.fixture
def processor(emr_settings: Settings) -> Iterator[BatchProcessor]:
    with ConnectionPool(emr_settings.database_url, min_size=1, max_size=2,
                        kwargs={"autocommit": True}, open=True) as pool:
        yield BatchProcessor(pool, EventProducer(emr_settings.librdkafka()),
                             codec_for(emr_settings))


def _task(*, title: str | None = None, description: str | None = "ok", **envelope: Any
          ) -> TaskEvent:
    """A new task (fresh ids) like the template's, with the given hostile values.

    ``model_copy`` does not validate: the values reach the wire as a hostile producer
    would send them.
    """
    task = TEMPLATE.task if title is None else TEMPLATE.task.model_copy(update={"title": title})
    payload = TEMPLATE.payload.model_copy(update={"description": description})
    return TEMPLATE.model_copy(update={"event_id": uuid.uuid4(), "aggregate_id": uuid.uuid4(),
                                       "task": task, "payload": payload, **envelope})


def _bytes(event: TaskEvent, **record_changes: Any) -> bytes:
    record = event.to_avro()
    record.update(record_changes)
    return WRITER.encode(event.schema_name, record)


def _record(topic: str, offset: int, value: bytes, event: TaskEvent | None) -> ConsumedRecord:
    return ConsumedRecord(topic=topic, partition=0, offset=offset, value=value,
                          key=str(event.aggregate_id).encode() if event else None)


def _ledger(url: str, topic: str) -> dict[int, uuid.UUID]:
    with psycopg.connect(url) as conn:
        rows = conn.execute('SELECT "offset", event_id FROM processed_events WHERE topic = %s',
                            (topic,)).fetchall()
    return {int(o): e for o, e in rows}


def _task_row(url: str, task_id: uuid.UUID) -> tuple[Any, ...] | None:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT title, description, vector_clock FROM tasks WHERE id = %s",
                            (task_id,)).fetchone()


def _dead_letters(settings: Settings, expected: int
                  ) -> dict[int, tuple[bytes | None, dict[str, bytes]]]:
    """The dead-letter topic's messages by source offset: (value, headers)."""
    found: dict[int, tuple[bytes | None, dict[str, bytes]]] = {}
    messages = dead_letters(settings, expected, then_none=True)
    for message in messages:
        headers = {k: v for k, v in message.headers() or [] if v is not None}
        found[int(headers["emr.dlq.offset"])] = (message.value(), headers)
    assert len(messages) == len(found), "an offset was dead-lettered twice"
    return found


def test_a_hostile_batch_is_applied_or_dead_lettered_record_by_record(
        emr_settings: Settings, processor: BatchProcessor) -> None:
    topic, url = emr_settings.kafka.tasks_topic, emr_settings.database_url
    now = clock.now()
    wide_clock = {f"device-{i:03}": i + 1 for i in range(256)}
    sql_task = _task(title=SQL_LIKE[1], description=SQL_LIKE[0])
    longest = _task(description="\u00e9" * MAX_CHARS)
    wide = _task()
    bad_mrn = _task()
    bad_mrn = bad_mrn.model_copy(update={"task": bad_mrn.task.model_copy(update={
        "patient": bad_mrn.task.patient.model_copy(update={
            "id": uuid.uuid4(), "mrn": "lower-case-mrn", "emr_id": "epic-bad"})})})
    cases: list[tuple[str, bytes, TaskEvent | None, str | None]] = [
        # (name, value, event, expected reason fragment: None when it must be applied)
        ("sql", encode(sql_task), sql_task, None),
        ("longest", encode(longest), longest, None),
        ("wide clock", _bytes(wide, vector_clock=wide_clock), wide, None),
        ("duplicate", encode(sql_task), sql_task, None),
        ("nul description", encode(e := _task(description="BP\x00q1h")), e,
         "payload.description contains a NUL"),
        ("nul title", encode(e := _task(title="Check\x00vitals")), e,
         "task.title contains a NUL"),
        ("too long", encode(e := _task(description="\u00e9" * (MAX_CHARS + 1))), e,
         "payload.description is longer than max_string_chars (65536)"),
        ("due in 2300", encode(e := _task(payload=TEMPLATE.payload.model_copy(update={
            "due_at": datetime(2300, 1, 1, tzinfo=UTC)}))), e, "payload.due_at is outside"),
        ("born 1850", encode(e := _task(task=TEMPLATE.task.model_copy(update={
            "patient": TEMPLATE.task.patient.model_copy(update={
                "date_of_birth": date(1850, 1, 1)})}))), e,
         "task.patient.date_of_birth is outside min_date..max_date"),
        ("clock too wide", _bytes(e := _task(), vector_clock={**wide_clock, "one-more": 1}), e,
         "more than max_clock_entries (256)"),
        ("negative counter", _bytes(e := _task(), vector_clock={"tablet-7": -5}), e,
         "outside 0..max_clock_counter"),
        ("hlc a day ahead", _bytes(e := _task(), hlc={
            "physical_us": int((now + timedelta(days=1)).timestamp() * 1e6), "logical": 0,
            "node": "tablet-7"}), e, "hlc.physical_us is more than max_future_skew"),
        ("garbage", b"\xc3\x01" + b"\xa5" * 64, None, "unknown schema fingerprint"),
        ("truncated", encode(e := _task())[:120], e, "Avro body ends early"),
        ("2 MiB", encode(e := _task())[:10] + b"\x00" * (2 << 20), e,
         "larger than max_message_bytes"),
        ("refused by the database", encode(bad_mrn), bad_mrn, "invalid MRN format"),
    ]
    events = synthetic(25, seed=23)
    valid, more = events[:20], events[20:]
    batch = [_record(topic, i, encode(v), v) for i, v in enumerate(valid)]
    batch += [_record(topic, len(valid) + i, value, event)
              for i, (_, value, event, _) in enumerate(cases)]
    hostile = {len(valid) + i: (name, reason) for i, (name, _, _, reason) in enumerate(cases)
               if reason is not None}
    duplicate = len(valid) + [c[0] for c in cases].index("duplicate")
    too_large = len(valid) + [c[0] for c in cases].index("2 MiB")

    outcome = processor.process(batch)

    assert outcome.total == len(batch)
    assert outcome.duplicates == 1
    poison = {p.record.offset: p for p in outcome.poison}
    assert set(poison) == set(hostile)
    for offset, (name, reason) in hostile.items():
        assert reason in poison[offset].reason, (name, poison[offset].reason)
    ledger = _ledger(url, topic)
    # Every offset exactly once: applied (in the ledger), the duplicate, or dead-lettered.
    assert set(ledger) | {duplicate} | set(poison) == {r.offset for r in batch}
    assert len(ledger) + 1 + len(poison) == len(batch)
    assert {ledger[i] for i in range(len(valid))} == {v.event_id for v in valid}
    assert _task_row(url, sql_task.aggregate_id)[:2] == (SQL_LIKE[1], SQL_LIKE[0])  # type: ignore[index]
    assert _task_row(url, longest.aggregate_id)[1] == "\u00e9" * MAX_CHARS  # type: ignore[index]
    assert _task_row(url, wide.aggregate_id)[2] == wide_clock  # type: ignore[index]

    letters = _dead_letters(emr_settings, len(poison))
    assert set(letters) == set(poison)
    by_offset = {r.offset: r for r in batch}
    for offset, (value, headers) in letters.items():
        if offset == too_large:  # too large for the dead-letter topic: left at its source
            assert value is None and headers[VALUE_OMITTED_HEADER] == b"2097162"
        else:
            assert value == by_offset[offset].value and VALUE_OMITTED_HEADER not in headers
        assert headers["emr.dlq.reason"].decode() == poison[offset].reason
        assert b"lower-case-mrn" not in headers["emr.dlq.reason"]
        assert b"BP\x00q1h" not in headers["emr.dlq.reason"]
        assert headers["emr.dlq.stage"] == (b"apply" if hostile[offset][0].startswith("refused")
                                            else b"decode")

    # The processor goes on with the next batch.
    follow = processor.process([_record(topic, len(batch) + i, encode(v), v)
                                for i, v in enumerate(more)])
    assert follow.applied + follow.stale == len(more) and not follow.poison
    assert len(_ledger(url, topic)) == len(ledger) + len(more)


#: Text a hostile producer might send: any Unicode scalar (NUL and controls included),
#: SQL-looking text, empty, and lengths around the title and free-text bounds.
ADVERSARIAL = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=80),
    st.sampled_from(SQL_LIKE),
    st.integers(495, 505).map(lambda n: "\u00fc" * n),
    st.integers(MAX_CHARS - 1, MAX_CHARS + 1).map(lambda n: "\U0001f489" * n),
)


def _expected_reasons(title: str, description: str) -> list[str]:
    """Why the processor must refuse the pair, any of these (none: it must apply it)."""
    reasons = []
    for field, text in (("task.title", title), ("payload.description", description)):
        if len(text) > MAX_CHARS:
            reasons.append(f"{field} is longer than max_string_chars")
        elif "\x00" in text:
            reasons.append(f"{field} contains a NUL")
    if not 1 <= len(title) <= 500:
        reasons.append("task.title")  # the model's rule (the table's CHECK says the same)
    return reasons


def test_adversarial_text_through_the_apply_path(emr_settings: Settings,
                                                 processor: BatchProcessor) -> None:
    topic, url = emr_settings.kafka.tasks_topic, emr_settings.database_url
    offsets = itertools.count()
    dead: dict[int, str] = {}

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(pairs=st.lists(st.tuples(ADVERSARIAL, ADVERSARIAL), min_size=1, max_size=6),
           duplicate_last=st.booleans())
    def run(pairs: list[tuple[str, str]], duplicate_last: bool) -> None:
        events = [_task(title=t, description=d) for t, d in pairs]
        records = [_record(topic, next(offsets), encode(e), e) for e in events]
        expected = [_expected_reasons(t, d) for t, d in pairs]
        if duplicate_last:
            records.append(_record(topic, next(offsets), records[-1].value, events[-1]))
            events.append(events[-1])
            expected.append(expected[-1])
        outcome = processor.process(records)
        assert outcome.total == len(records)
        poison = {p.record.offset: p.reason for p in outcome.poison}
        ledger = _ledger(url, topic)
        for record, event, reasons in zip(records, events, expected, strict=True):
            if reasons:
                assert any(r in poison[record.offset] for r in reasons), poison[record.offset]
                assert record.offset not in ledger
                dead[record.offset] = poison[record.offset]
                continue
            assert record.offset not in poison
            row = _task_row(url, event.aggregate_id)
            assert row is not None
            assert row[:2] == (event.task.title, event.payload.description)
        applied_here = {r.offset for r in records} & set(ledger)
        assert len(applied_here) + len(poison) + outcome.duplicates == len(records)

    run()
    letters = _dead_letters(emr_settings, len(dead))
    assert {o: h["emr.dlq.reason"].decode() for o, (_, h) in letters.items()} == dead
