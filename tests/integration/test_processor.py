"""The batch processor: a record the database refuses is dead-lettered alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from streams import clock
from streams.config import Settings
from streams.contracts.identity import identity_id
from streams.kafka.producer import EventProducer
from streams.sink import ConsumedRecord
from streams.sink.processor import BatchProcessor
from tests.integration.helpers import CODEC, count, dead_letters, encode, synthetic

pytestmark = pytest.mark.integration


@pytest.fixture
def processor(emr_settings: Settings) -> Iterator[BatchProcessor]:
    with ConnectionPool(emr_settings.database_url, min_size=1, max_size=2,
                        kwargs={"autocommit": True}, open=True) as pool:
        yield BatchProcessor(pool, EventProducer(emr_settings.librdkafka()), CODEC)


def _variant(event, **snapshot_patient):
    """A new task, the same as *event*'s, whose patient snapshot differs as given."""
    flip = uuid.UUID(int=event.event_id.int ^ 1)
    patient = event.task.patient.model_copy(update=snapshot_patient)
    return event.model_copy(update={
        "event_id": flip, "aggregate_id": uuid.UUID(int=event.aggregate_id.int ^ 1),
        "task": event.task.model_copy(update={"patient": patient})})


def test_refused_records_are_dead_lettered_and_the_rest_applied(
        emr_settings: Settings, processor: BatchProcessor) -> None:
    topic = emr_settings.kafka.tasks_topic
    events = synthetic(60, seed=9)
    good = events[0]
    # Same MRN as another patient of the batch under a new id: the same patient, named by
    # another producer's id. Applied to the MRN's patient; the id is kept as an alias.
    clash = _variant(events[1], id=uuid.UUID(int=good.task.patient.id.int ^ 1),
                     mrn=good.task.patient.mrn, emr_id="epic-clash")
    # What the database refuses: a date of birth next year, a malformed MRN.
    unborn = _variant(events[3], id=uuid.UUID(int=events[3].task.patient.id.int ^ 1),
                      mrn="MRN00UNBORN", emr_id="epic-unborn",
                      date_of_birth=clock.now().date() + timedelta(days=400))
    bad_mrn = _variant(events[2], id=uuid.UUID(int=events[2].task.patient.id.int ^ 1),
                       mrn="lower-case-mrn", emr_id="epic-badmrn")
    batch = [*events[:30], unborn, clash, *events[30:], bad_mrn]
    records = [ConsumedRecord(topic=topic, partition=0, offset=i,
                              key=str(e.aggregate_id).encode(), value=encode(e))
               for i, e in enumerate(batch)]
    outcome = processor.process(records)
    assert outcome.applied + outcome.stale == len(events) + 1
    assert {p.record.offset for p in outcome.poison} == {30, len(batch) - 1}
    assert outcome.total == len(batch)
    assert count(emr_settings.database_url, "processed_events") == len(events) + 1
    reasons = {p.record.offset: p.reason for p in outcome.poison}
    assert "invalid MRN format" in reasons[len(batch) - 1]
    assert "date of birth" in reasons[30]
    for reason in reasons.values():
        assert "lower-case-mrn" not in reason and "MRN00UNBORN" not in reason
    with psycopg.connect(emr_settings.database_url) as conn:
        patient = conn.execute("SELECT patient_id FROM tasks WHERE id = %s",
                               (clash.aggregate_id,)).fetchone()
        alias = conn.execute("SELECT canonical_id FROM identity_aliases WHERE alias_id = %s",
                             (clash.task.patient.id,)).fetchall()
    canonical = identity_id("patient", good.task.patient.mrn)
    assert patient == (canonical,) and alias == [(canonical,)]
    letters = [dict(m.headers() or []) for m in dead_letters(emr_settings, 2)]
    assert sorted(h["emr.dlq.stage"] for h in letters) == [b"apply", b"apply"]


def test_a_row_refused_only_as_merged_dead_letters_only_the_record_refused_alone(
        emr_settings: Settings, processor: BatchProcessor) -> None:
    """Two events name one new patient: the earlier with a valid date of birth, the later
    with one next year. The batch's merged row (the later snapshot wins) is refused, so
    both events name a refused row; only the later is refused on its own."""
    topic = emr_settings.kafka.tasks_topic
    events = synthetic(40, seed=31)
    first, later = events[10], events[20]
    assert (later.hlc.physical_us, later.hlc.logical) > (first.hlc.physical_us,
                                                         first.hlc.logical)
    valid = _variant(first, id=uuid.uuid4(), mrn="MRN00MERGED", emr_id="epic-merged",
                     date_of_birth=date(1950, 1, 1))
    patient = valid.task.patient.model_copy(
        update={"date_of_birth": clock.now().date() + timedelta(days=400)})
    unborn = _variant(later, **patient.model_dump())
    batch = [*events, valid, unborn]
    records = [ConsumedRecord(topic=topic, partition=0, offset=i,
                              key=str(e.aggregate_id).encode(), value=encode(e))
               for i, e in enumerate(batch)]
    outcome = processor.process(records)
    assert [p.record.offset for p in outcome.poison] == [len(batch) - 1]
    assert "date of birth" in outcome.poison[0].reason
    assert outcome.applied + outcome.stale == len(events) + 1
    with psycopg.connect(emr_settings.database_url) as conn:
        stored = conn.execute("SELECT date_of_birth FROM patients WHERE id = %s",
                              (identity_id("patient", "MRN00MERGED"),)).fetchone()
    assert stored == (date(1950, 1, 1),)
