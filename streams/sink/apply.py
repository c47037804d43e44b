"""Apply a batch of events to PostgreSQL in one transaction, idempotently.

The one apply path: the faust agents, the operator's replay and the tests call
``apply_batch``. In one transaction it

1. claims each new ``event_id`` in ``processed_events`` (a duplicate claims nothing and
   changes nothing);
2. gets-or-creates the departments, users, patients, shifts and tasks of the events'
   identity snapshots, and each aggregate's row from its snapshot, so no event waits for
   another topic;
3. locks the batch's rows (in id order) and merges the events into them (``merge``:
   per-field last writer wins on the HLC, monotone status, vector clocks merged; concurrent
   edits recorded in ``conflicts``);
4. writes one ``audit_logs`` row per new event, and the merged state of every changed
   aggregate to ``state_outbox`` for the state topics.

Every statement covers the whole batch (``unnest`` of arrays): the round trips of a batch
do not grow with its size. Undecodable records are returned as poison for the caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from streams.contracts import DecodeError
from streams.contracts.clocks import Ordering
from streams.contracts.codec import AvroCodec
from streams.contracts.models import AnyEvent, event_from_avro
from streams.failures import Scope, classify, describe
from streams.phi import PhiSealer
from streams.sink import _sql
from streams.sink.aggregates import TASKS, AggregateSpec, Identities, spec_for
from streams.sink.merge import Row, jsonable, merge_event
from streams.sink.records import ConsumedRecord, Poison
from streams.sink.stored import bounded, oversized_state

__all__ = ["BatchOutcome", "apply_batch", "apply_events", "decode_records", "write_identities"]

Conn = psycopg.Connection[tuple[Any, ...]]
_EMRS = frozenset({"EPIC", "CERNER", "GENERIC_FHIR"})
_RULE = "per-field last writer wins on (HLC, node); higher-ranked status wins"


@dataclass
class BatchOutcome:
    """What one batch did; ``total`` equals the number of records given."""

    applied: int = 0
    stale: int = 0
    concurrent: int = 0
    duplicates: int = 0
    poison: list[Poison] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.applied + self.stale + self.concurrent + self.duplicates + len(self.poison)

    def add(self, other: BatchOutcome) -> None:
        self.applied += other.applied
        self.stale += other.stale
        self.concurrent += other.concurrent
        self.duplicates += other.duplicates
        self.poison.extend(other.poison)


def decode_records(codec: AvroCodec, records: Sequence[ConsumedRecord], outcome: BatchOutcome,
                   *, phi: PhiSealer | None = None) -> list[tuple[ConsumedRecord, AnyEvent]]:
    """Decode *records* (and open their sealed PHI when *phi* is given); the records that
    do not decode or open are added to *outcome* as poison.

    Whatever one record raises here is that record's (``streams.failures``): it becomes
    poison with a reason that quotes no value. Only an error of the process (an interrupt,
    memory) propagates.
    """
    decoded = []
    for record in records:
        stage = "decode"
        try:
            result = codec.decode(record.value)
            event = event_from_avro(result.schema, result.record)
            if record.key is not None and record.key != str(event.aggregate_id).encode():
                raise DecodeError("message key is not the event's aggregate_id")
            if phi is not None:
                stage = "decrypt"
                event = phi.open(event)
        except Exception as exc:
            if classify(exc) is not Scope.RECORD:
                raise
            outcome.poison.append(Poison(record, describe(exc), type(exc).__name__, stage))
            continue
        decoded.append((record, event))
    return decoded


def apply_batch(conn: Conn, records: Sequence[ConsumedRecord], *,
                codec: AvroCodec, phi: PhiSealer | None = None) -> BatchOutcome:
    """Decode *records* and apply them in one transaction on *conn*; return what happened.

    Sealed PHI is stored sealed unless *phi* is given (``EMR_STREAMS_PHI_OPEN_IN_SINK``):
    then it is opened first, and a record whose PHI does not open is poison.

    Raises what the database or the merge raised when the batch cannot be applied: nothing
    of it was committed, and the caller decides (``streams.failures``: retry a transient
    error, isolate the record behind a record error). Never acknowledge a record before
    this returned.
    """
    outcome = BatchOutcome()
    decoded = decode_records(codec, records, outcome, phi=phi)
    outcome.add(apply_events(conn, decoded))
    return outcome


def apply_events(conn: Conn, decoded: Sequence[tuple[ConsumedRecord, AnyEvent]]
                 ) -> BatchOutcome:
    """Apply decoded events in one transaction on *conn* (see :func:`apply_batch`)."""
    outcome = BatchOutcome()
    unique: dict[UUID, tuple[ConsumedRecord, AnyEvent]] = {}
    for record, event in decoded:
        if event.event_id in unique:
            outcome.duplicates += 1  # a producer retry inside one batch
        else:
            unique[event.event_id] = (record, event)
    if not unique:
        return outcome
    rows = list(unique.values())
    with conn.transaction():
        claimed = {r[0] for r in conn.execute(_sql.LEDGER, (
            [e.event_id for _, e in rows], [e.event_type for _, e in rows],
            [e.aggregate_id for _, e in rows], [r.topic for r, _ in rows],
            [r.partition for r, _ in rows], [r.offset for r, _ in rows])).fetchall()}
        fresh = [(r, e) for r, e in rows if e.event_id in claimed]
        outcome.duplicates += len(rows) - len(fresh)
        if fresh:
            by_spec: dict[str, list[AnyEvent]] = defaultdict(list)
            for _, e in fresh:
                by_spec[e.schema_name].append(e)
            write_identities(conn, fresh)
            outcomes: dict[UUID, str] = {}
            for schema, events in sorted(by_spec.items()):
                outcomes.update(_merge(conn, spec_for(schema), events))
            for name in outcomes.values():
                setattr(outcome, name, getattr(outcome, name) + 1)
            labels = {"stale": "stale", "concurrent": "merged"}
            changed = [(k, labels[v]) for k, v in outcomes.items() if v in labels]
            if changed:
                conn.execute(_sql.LEDGER_OUTCOME, ([k for k, _ in changed],
                                                   [v for _, v in changed]))
            _write_audit(conn, fresh, outcomes)
    return outcome


def write_identities(conn: Conn, fresh: Sequence[tuple[ConsumedRecord, AnyEvent]]) -> None:
    """Get-or-create the departments, users, patients, shifts and tasks *fresh* names
    (step 2 of :func:`apply_batch`)."""
    ids = Identities()
    for _, e in fresh:
        spec_for(e.schema_name).collect(e, ids)
    d, u, p, s = (list(ids.departments.values()), list(ids.users.values()),
                  list(ids.patients.values()), list(ids.shifts.values()))
    conn.execute(_sql.DEPARTMENTS, ([x.id for x in d], [x.code for x in d], [x.name for x in d]))
    conn.execute(_sql.USERS, ([x.id for x in u], [x.username for x in u],
                              [x.display_name for x in u], [x.role for x in u]))
    conn.execute(_sql.PATIENTS, ([x.id for x in p], [x.mrn for x in p],
                                 [x.emr_system for x in p], [x.emr_id for x in p],
                                 [x.first_name for x in p], [x.last_name for x in p],
                                 [x.date_of_birth for x in p], [x.sealed_phi for x in p]))
    if s:
        conn.execute(_sql.SHIFTS, ([x.id for x in s], [x.department.id for x in s],
                                   [x.supervisor.id for x in s], [x.starts_at for x in s],
                                   [x.ends_at for x in s]))
    if ids.tasks:
        tasks = [Row(id=task_id, refs={"patient_id": t.patient.id, "created_by": t.created_by.id,
                                       "department_id": t.department.id},
                     values={"title": t.title, "priority": t.priority})
                 for task_id, t in ids.tasks.items()]
        conn.execute(TASKS.table.placeholder, TASKS.placeholder_params(tasks))


def _merge(conn: Conn, spec: AggregateSpec, events: list[AnyEvent]) -> dict[UUID, str]:
    """Merge *events* into their rows of *spec*'s table; return each event's outcome."""
    firsts: dict[UUID, AnyEvent] = {}
    for e in events:
        firsts.setdefault(e.aggregate_id, e)
    conn.execute(spec.table.placeholder,
                 spec.placeholder_params([spec.placeholder(e) for e in firsts.values()]))
    rows = {r.id: r for r in map(spec.row_from_db, conn.execute(spec.table.lock,
                                                                (list(firsts),)))}
    before_batch = dict(rows)
    outcomes: dict[UUID, str] = {}
    conflicts: list[tuple[Any, ...]] = []
    for e in sorted(events, key=lambda e: (e.hlc.physical_us, e.hlc.logical, e.hlc.node,
                                           e.event_id)):
        before = rows[e.aggregate_id]
        result = merge_event(before, e, spec.writes(e), spec.rank)
        rows[e.aggregate_id] = result.row
        if result.ordering is Ordering.CONCURRENT:
            outcomes[e.event_id] = "concurrent"
            conflicts.append((
                spec.aggregate_type, e.aggregate_id, e.event_id,
                Jsonb(bounded(before.vector_clock.as_dict())), Jsonb(bounded(e.vector_clock)),
                Jsonb(bounded(jsonable(before.values))),
                Jsonb(bounded({"event_type": e.event_type, "origin_node": e.origin_node,
                       "writes": jsonable(spec.writes(e))})),
                Jsonb(bounded(jsonable(result.row.values))), _RULE))
        elif result.changed or result.ordering is Ordering.AFTER:
            outcomes[e.event_id] = "applied"
        else:
            outcomes[e.event_id] = "stale"
    merged = [r for r in rows.values() if r != before_batch[r.id]]
    if merged:
        conn.execute(spec.table.update, spec.update_params(merged))
        states = [_state(spec, r) for r in merged]
        conn.execute(_sql.OUTBOX, (
            [spec.aggregate_type for _ in merged], [r.id for r in merged],
            [Jsonb(s) for s in states], [oversized_state(s) for s in states]))
    if conflicts:
        conn.execute(_sql.CONFLICTS, tuple(list(col) for col in zip(*conflicts, strict=True)))
    return outcomes


def _state(spec: AggregateSpec, row: Row) -> dict[str, Any]:
    """The merged state published to downstream consumers."""
    return {"aggregate_type": spec.aggregate_type, "id": str(row.id),
            **jsonable(row.refs), **jsonable(row.values),
            "vector_clock": row.vector_clock.as_dict(), "hlc": list(row.hlc),
            "last_event_id": str(row.last_event_id) if row.last_event_id else None}


def _write_audit(conn: Conn, batch: list[tuple[ConsumedRecord, AnyEvent]],
                 outcomes: dict[UUID, str]) -> None:
    # In position order: each partition's audit rows enter its hash chain in offset order,
    # and every transaction locks the chain heads (migration 0009) in the same order.
    fresh = sorted(batch, key=lambda re: (re[0].topic, re[0].partition, re[0].offset))
    conn.execute(_sql.AUDIT, (
        [e.event_id for _, e in fresh], [e.event_type for _, e in fresh],
        [e.event_type.lower() for _, e in fresh], [e.aggregate_type for _, e in fresh],
        [e.aggregate_id for _, e in fresh], [e.actor.id for _, e in fresh],
        [e.actor.role for _, e in fresh],
        [spec_for(e.schema_name).patient_id(e) for _, e in fresh],
        [e.source_system if e.source_system in _EMRS else None for _, e in fresh],
        [e.source_system for _, e in fresh], [r.topic for r, _ in fresh],
        [r.partition for r, _ in fresh], [r.offset for r, _ in fresh],
        [Jsonb({"outcome": outcomes[e.event_id], "origin_node": e.origin_node})
         for _, e in fresh]))
