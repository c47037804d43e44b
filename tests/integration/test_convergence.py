"""Invariants 2 and 3 on the apply path, against real PostgreSQL, with hypothesis.

Any permutation of the same events, with duplicates, split into any batches, leaves the
same tables (tasks, handovers, verifications, the identities they reference and the
producers' ids), every column but the processing times, even when identity snapshots
evolve and contradict each other.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams import clock
from streams.contracts.models import AnyEvent, HybridTimestamp, TaskCreated, TaskEvent
from streams.sink import apply_batch
from tests.fixtures.database import DatabaseFactory
from tests.integration.helpers import CODEC, records, synthetic, table_state
from tests.unit.events_fixtures import every_event

pytestmark = pytest.mark.integration


#: A month before the suite's clock (fixed for the run): in the past on any day.
_BASE_US = clock.now_us() - 30 * 86_400 * 1_000_000


def _with_clocks(events: list[AnyEvent]) -> list[AnyEvent]:
    """The 13 fixture events, re-stamped as edits from two offline nodes."""
    out = []
    for i, event in enumerate(events):
        node = "tablet-a" if i % 2 else "tablet-b"
        physical = _BASE_US + (i * 7919) % 13
        out.append(event.model_copy(update={
            "hlc": HybridTimestamp(physical_us=physical, logical=i % 3, node=node),
            "occurred_at": datetime.fromtimestamp(physical / 1e6, UTC),
            "vector_clock": {node: i + 1}, "origin_node": node}))
    return out


def _identity_snapshots(events: list[TaskEvent]) -> list[TaskEvent]:
    """The synthetic events, with identity snapshots that evolve and contradict:

    * every third actor under another adapter's id, with a changed display name and role;
    * every fourth patient with a (changing, sometimes absent) name and date of birth;
    * every seventh department under another id and a new name;
    * every eleventh patient snapshot reusing the previous event's patient id for its own
      MRN (one producer id, two patients);
    * every thirteenth change naming another task's patient (a reference contradiction).
    """
    rng = random.Random(13)
    out: list[TaskEvent] = []
    for i, event in enumerate(events):
        task = event.task
        actor = event.actor
        if i % 3 == 0:
            actor = actor.model_copy(update={
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "display_name": f"{actor.display_name} ({i})",
                "role": rng.choice(["NURSE", "DOCTOR", "SUPERVISOR"])})
        patient = task.patient
        if i % 4 == 0:
            patient = patient.model_copy(update={
                "first_name": None if i % 8 == 0 else f"Name{i}", "last_name": "Doe",
                "date_of_birth": date(1950 + i % 40, 1 + i % 12, 1 + i % 28)})
        if i % 11 == 0 and out:
            patient = patient.model_copy(update={"id": out[-1].task.patient.id})
        if i % 13 == 0 and out and not isinstance(event.payload, TaskCreated):
            patient = out[-1].task.patient
        department = task.department
        if i % 7 == 0:
            department = department.model_copy(update={
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "name": f"{department.name} wing {i}"})
        out.append(event.model_copy(update={"actor": actor, "task": task.model_copy(update={
            "patient": patient, "department": department})}))
    return out


EVENTS = (_identity_snapshots(synthetic(150, seed=21, concurrent_rate=0.2))
          + _with_clocks(every_event()))


def _apply_all(url: str, ordering: list[AnyEvent], batch: int) -> dict:
    recs = records(ordering)
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, len(recs), batch):
            outcome = apply_batch(conn, recs[start:start + batch], codec=CODEC)
            assert outcome.poison == []
    return table_state(url)


@pytest.fixture
def reference(database_factory: DatabaseFactory) -> dict:
    """The tables after every event once, in generation order, in one batch."""
    return _apply_all(database_factory(), EVENTS, 1000)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), batch=st.integers(1, 120),
       duplicates=st.integers(0, 30))
def test_any_order_batching_and_duplication_gives_the_same_tables(
        database_factory: DatabaseFactory, reference: dict, seed: int, batch: int,
        duplicates: int) -> None:
    rng = random.Random(seed)
    ordering = EVENTS + [rng.choice(EVENTS) for _ in range(duplicates)]
    rng.shuffle(ordering)
    assert _apply_all(database_factory(), ordering, batch) == reference


def test_the_reference_holds_every_aggregate(reference: dict) -> None:
    assert len(reference["tasks"]) == len({e.aggregate_id for e in EVENTS
                                           if e.schema_name == "task_event"}) + 1
    assert len(reference["handovers"]) == 1
    assert len(reference["emr_verifications"]) == 1


def test_concurrent_edits_are_recorded_for_review(database_factory: DatabaseFactory) -> None:
    url = database_factory()
    _apply_all(url, EVENTS, 50)
    with psycopg.connect(url) as conn:
        merged = conn.execute("SELECT count(*) FROM processed_events "
                              "WHERE outcome = 'merged'").fetchone()
        conflicts = conn.execute("SELECT count(*), count(DISTINCT aggregate_type) "
                                 "FROM conflicts").fetchone()
        sample = conn.execute("SELECT local_clock, remote_clock, resolution_rule "
                              "FROM conflicts LIMIT 1").fetchone()
    assert merged is not None and conflicts is not None and sample is not None
    assert merged[0] > 0 and conflicts[0] == merged[0]
    assert conflicts[1] >= 2  # tasks and at least one other aggregate
    assert "last writer wins" in sample[2]


def test_identity_contradictions_are_recorded_and_nothing_is_refused(
        database_factory: DatabaseFactory) -> None:
    url = database_factory()
    state = _apply_all(url, EVENTS, 40)  # asserts that no event was refused
    with psycopg.connect(url) as conn:
        contradicted = conn.execute("SELECT count(*) FROM identity_contradictions "
                                    "WHERE kind = 'patient'").fetchone()
        references = conn.execute("SELECT count(*), count(*) FILTER (WHERE field = "
                                  "'patient_id') FROM reference_conflicts").fetchone()
        # Each audit row names the patient of the task it changed, not its snapshot's.
        mismatched = conn.execute(
            "SELECT count(*) FROM audit_logs a JOIN tasks t ON t.id = a.entity_id "
            "WHERE a.patient_id IS DISTINCT FROM t.patient_id").fetchone()
        applied = conn.execute("SELECT count(*) FROM processed_events").fetchone()
    assert contradicted is not None and contradicted[0] > 0
    assert references is not None and references[1] > 0
    assert mismatched == (0,)
    assert applied == (len({e.event_id for e in EVENTS}),)
    # One row per natural key: another adapter's ids are aliases, never extra rows.
    users = {u["username"] for u in state["users"]}
    assert len(users) == len(state["users"])
    assert len({a["alias_id"] for a in state["identity_aliases"]
                if a["kind"] == "user"}) >= len(EVENTS) // 3 // 2
