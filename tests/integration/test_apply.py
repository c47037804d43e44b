"""The apply path against real PostgreSQL: idempotent, convergent, poison contained."""

from __future__ import annotations

import random
import uuid

import psycopg
import pytest

from streams.contracts.identity import identity_id
from streams.contracts.models import TaskUpdated
from streams.sink import ConsumedRecord
from streams.sink import apply_batch as _apply_batch
from tests.integration.helpers import CODEC, records, synthetic
from tests.unit.events_fixtures import every_event

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[tuple[object, ...]]


_records = records


def apply_batch(conn: Conn, batch: list[ConsumedRecord]):
    return _apply_batch(conn, batch, codec=CODEC)


def _state(conn: Conn) -> list[tuple[object, ...]]:
    return conn.execute("SELECT id, title, status, priority, patient_id, assigned_to, "
                        "created_by, department_id, shift_id, due_date, completed_at, "
                        "emr_system, emr_reference, description, field_clocks, vector_clock, "
                        "hlc_physical, hlc_logical, origin_node, last_event_id "
                        "FROM tasks ORDER BY id").fetchall()


def test_second_delivery_changes_nothing(db: Conn) -> None:
    records = _records(synthetic(300))
    first = apply_batch(db, records)
    before = _state(db)
    second = apply_batch(db, records)
    assert (first.total, first.duplicates, first.poison) == (300, 0, [])
    assert (second.applied, second.stale, second.duplicates) == (0, 0, 300)
    assert _state(db) == before
    assert db.execute("SELECT count(*) FROM processed_events").fetchone() == (300,)


def test_duplicates_inside_one_batch_count_once(db: Conn) -> None:
    records = _records(synthetic(20))
    outcome = apply_batch(db, records + records[:5])
    assert (outcome.applied + outcome.stale, outcome.duplicates, outcome.total) == (20, 5, 25)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_permutation_converges(database_factory, seed: int) -> None:
    events = synthetic(400, seed=11, concurrent_rate=0.1)
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    states = []
    for ordering in (events, shuffled):
        with psycopg.connect(database_factory(), autocommit=True) as conn:
            records = _records(ordering)
            for start in range(0, len(records), 37):  # uneven batches
                apply_batch(conn, records[start:start + 37])
            states.append(_state(conn))
    assert states[0] == states[1]
    assert len(states[0]) == len({e.aggregate_id for e in events})


def test_poison_is_returned_and_the_rest_applies(db: Conn) -> None:
    good = _records(synthetic(10))
    bad = [ConsumedRecord(topic="t", partition=1, offset=99, key=b"k", value=b"{oops"),
           ConsumedRecord(topic="t", partition=1, offset=100, key=b"k", value=None)]
    outcome = apply_batch(db, good[:5] + bad + good[5:])
    assert outcome.applied + outcome.stale == 10
    assert [p.record.offset for p in outcome.poison] == [99, 100]
    assert {p.stage for p in outcome.poison} == {"decode"}
    assert outcome.total == 12


def test_one_audit_row_per_event_and_none_on_replay(db: Conn) -> None:
    records = _records(synthetic(120))
    apply_batch(db, records)
    apply_batch(db, records[::-1])
    audit = db.execute("SELECT count(*), count(DISTINCT event_id), min(topic), "
                       "bool_and(\"offset\" IS NOT NULL) FROM audit_logs").fetchone()
    assert audit == (120, 120, "t", True)


def test_identities_are_created_from_the_snapshots(db: Conn) -> None:
    events = synthetic(200)
    apply_batch(db, _records(events))
    users = {e.task.created_by.id for e in events} | {e.actor.id for e in events} | {
        e.payload.assigned_to.id for e in events
        if getattr(e.payload, "assigned_to", None) is not None}  # type: ignore[union-attr]
    patients = {identity_id("patient", e.task.patient.mrn) for e in events}
    for table, ids in (("departments", {e.task.department.id for e in events}),
                       ("patients", patients), ("users", users)):
        found = {r[0] for r in db.execute(f"SELECT id FROM {table}").fetchall()}  # type: ignore[arg-type]
        assert found == ids, table
    # The adapter derives department and staff ids (no alias); patient ids are its own.
    aliases = db.execute("SELECT kind, alias_id, canonical_id FROM identity_aliases").fetchall()
    assert set(aliases) == {("patient", e.task.patient.id, identity_id("patient",
                                                                       e.task.patient.mrn))
                            for e in events}


def test_plain_text_phi_leaves_the_database_only_when_allowed(db: Conn) -> None:
    """Unsealed PHI (a producer without a keyring) is stored, but its state and conflict
    rows carry null in its place unless EMR_STREAMS_PHI_PUBLISH_PLAINTEXT allows it."""
    created, *_ = every_event()
    description = created.payload.description  # type: ignore[union-attr]
    assert description
    concurrent = created.model_copy(update={
        "event_id": uuid.UUID(int=7777, version=4), "payload": TaskUpdated(
            description="plain PHI edited offline"),
        "vector_clock": {"other-tablet": 1}, "origin_node": "other-tablet"})
    for allowed in (False, True):
        with db.transaction(force_rollback=True):
            outcome = _apply_batch(db, records([created, concurrent]), codec=CODEC,
                                   plaintext_phi=allowed)
            assert outcome.concurrent == 1
            stored = db.execute("SELECT description FROM tasks").fetchone()
            state = db.execute("SELECT state FROM state_outbox ORDER BY id DESC LIMIT 1"
                               ).fetchone()
            conflict = db.execute("SELECT c::text FROM conflicts c").fetchone()
        assert stored == ("plain PHI edited offline",)
        assert state is not None and conflict is not None
        assert state[0]["description"] == ("plain PHI edited offline" if allowed else None)
        for text in (description, "plain PHI edited offline"):
            assert (text in conflict[0]) is allowed
