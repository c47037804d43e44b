"""Apply a batch of task events to PostgreSQL in one transaction, idempotently.

The one apply path: the faust agent, the operator's replay and the tests call
``apply_batch``. In one transaction it

1. claims each new ``event_id`` in ``processed_events`` (a duplicate claims nothing and
   changes nothing);
2. gets-or-creates the departments, users, patients and shifts of the events' identity
   snapshots, and each task's row from its snapshot, so no event waits for another;
3. locks the batch's task rows and merges the events into them (``task_merge``: per-field
   last writer wins on the HLC, monotone status, vector clocks merged; concurrent edits
   recorded in ``conflicts``);
4. writes one ``audit_logs`` row per new event.

Undecodable records are returned as poison for the caller to dead-letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from streams.contracts import DecodeError
from streams.contracts.clocks import Ordering, VectorClock
from streams.contracts.codec import AvroCodec
from streams.contracts.models import (
    DepartmentSnapshot,
    PatientSnapshot,
    ShiftSnapshot,
    TaskAssigned,
    TaskCreated,
    TaskEvent,
    UserSnapshot,
    event_from_avro,
)
from streams.sink import _sql
from streams.sink.records import ConsumedRecord, Poison
from streams.sink.task_merge import TaskRow, jsonable, merge_event, placeholder_row

__all__ = ["BatchOutcome", "apply_batch", "decode_records"]

Conn = psycopg.Connection[tuple[Any, ...]]
_EMRS = frozenset({"EPIC", "CERNER", "GENERIC_FHIR"})


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


def decode_records(codec: AvroCodec, records: Sequence[ConsumedRecord], outcome: BatchOutcome
                   ) -> list[tuple[ConsumedRecord, TaskEvent]]:
    """Decode *records*; the undecodable ones are added to *outcome* as poison."""
    decoded = []
    for record in records:
        try:
            result = codec.decode(record.value)
            event = event_from_avro(result.schema, result.record)
            if not isinstance(event, TaskEvent):
                raise DecodeError(f"a {result.schema} event on a task topic")
            if record.key is not None and record.key != str(event.aggregate_id).encode():
                raise DecodeError("message key is not the event's aggregate_id")
        except DecodeError as exc:
            outcome.poison.append(Poison(record, str(exc), type(exc).__name__, "decode"))
            continue
        decoded.append((record, event))
    return decoded


def apply_batch(conn: Conn, records: Sequence[ConsumedRecord], *,
                codec: AvroCodec) -> BatchOutcome:
    """Apply *records* in one transaction on *conn*; return what happened to each.

    Raises psycopg errors unchanged when the database refuses the batch: nothing of it was
    committed, and the caller decides (retry a transient error, isolate the record behind
    a permanent one). Never acknowledge a record before this returned.
    """
    outcome = BatchOutcome()
    unique: dict[UUID, tuple[ConsumedRecord, TaskEvent]] = {}
    for record, event in decode_records(codec, records, outcome):
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
            events = [e for _, e in fresh]
            _write_identities(conn, events)
            outcomes = _merge_tasks(conn, events)
            for name in outcomes.values():
                setattr(outcome, name, getattr(outcome, name) + 1)
            labels = {"applied": "applied", "stale": "stale", "concurrent": "merged"}
            changed = [(k, labels[v]) for k, v in outcomes.items() if v != "applied"]
            if changed:
                conn.execute(_sql.LEDGER_OUTCOME, ([k for k, _ in changed],
                                                   [v for _, v in changed]))
            _write_audit(conn, fresh, outcomes)
    return outcome


def _write_identities(conn: Conn, events: list[TaskEvent]) -> None:
    departments: dict[UUID, DepartmentSnapshot] = {}
    users: dict[UUID, UserSnapshot] = {}
    patients: dict[UUID, PatientSnapshot] = {}
    shifts: dict[UUID, ShiftSnapshot] = {}
    for e in events:
        departments.setdefault(e.task.department.id, e.task.department)
        patients.setdefault(e.task.patient.id, e.task.patient)
        for user in (e.actor, e.task.created_by):
            users.setdefault(user.id, user)
        payload = e.payload
        if isinstance(payload, TaskCreated | TaskAssigned):
            if payload.assigned_to is not None:
                users.setdefault(payload.assigned_to.id, payload.assigned_to)
            if payload.shift is not None:
                shifts.setdefault(payload.shift.id, payload.shift)
                departments.setdefault(payload.shift.department.id, payload.shift.department)
                users.setdefault(payload.shift.supervisor.id, payload.shift.supervisor)
    d, u, p, s = (list(departments.values()), list(users.values()), list(patients.values()),
                  list(shifts.values()))
    conn.execute(_sql.DEPARTMENTS, ([x.id for x in d], [x.code for x in d], [x.name for x in d]))
    conn.execute(_sql.USERS, ([x.id for x in u], [x.username for x in u],
                              [x.display_name for x in u], [x.role for x in u]))
    conn.execute(_sql.PATIENTS, ([x.id for x in p], [x.mrn for x in p],
                                 [x.emr_system for x in p], [x.emr_id for x in p]))
    if s:
        conn.execute(_sql.SHIFTS, ([x.id for x in s], [x.department.id for x in s],
                                   [x.supervisor.id for x in s], [x.starts_at for x in s],
                                   [x.ends_at for x in s]))


def _row(values: tuple[Any, ...]) -> TaskRow:
    (task_id, patient_id, created_by, department_id, title, description, status, priority,
     assigned_to, shift_id, due_date, completed_at, emr_system, emr_reference, field_clocks,
     vector_clock, hlc_physical, hlc_logical, origin_node, last_event_id) = values
    return TaskRow(
        id=task_id, patient_id=patient_id, created_by=created_by, department_id=department_id,
        values={"title": title, "description": description, "status": status,
                "priority": priority, "assigned_to": assigned_to, "shift_id": shift_id,
                "due_date": due_date, "completed_at": completed_at, "emr_system": emr_system,
                "emr_reference": emr_reference},
        field_clocks={k: (int(v[0]), int(v[1]), str(v[2])) for k, v in field_clocks.items()},
        vector_clock=VectorClock.from_mapping(vector_clock),
        hlc=(int(hlc_physical), int(hlc_logical)), origin_node=origin_node,
        last_event_id=last_event_id)


def _merge_tasks(conn: Conn, events: list[TaskEvent]) -> dict[UUID, str]:
    """Merge *events* into their rows; return each event's outcome."""
    firsts: dict[UUID, TaskEvent] = {}
    for e in events:
        firsts.setdefault(e.aggregate_id, e)
    starts = [placeholder_row(e) for e in firsts.values()]
    conn.execute(_sql.TASK_PLACEHOLDERS, (
        [r.id for r in starts], [r.values["title"] for r in starts],
        [r.values["priority"] for r in starts], [r.patient_id for r in starts],
        [r.created_by for r in starts], [r.department_id for r in starts]))
    rows = {r.id: r for r in map(_row, conn.execute(_sql.LOCK_TASKS, (list(firsts),)))}
    outcomes: dict[UUID, str] = {}
    conflicts: list[tuple[Any, ...]] = []
    for e in sorted(events, key=lambda e: (e.hlc.physical_us, e.hlc.logical, e.hlc.node,
                                           e.event_id)):
        before = rows[e.aggregate_id]
        result = merge_event(before, e)
        rows[e.aggregate_id] = result.row
        if result.ordering is Ordering.CONCURRENT:
            outcomes[e.event_id] = "concurrent"
            conflicts.append((
                "task", e.aggregate_id, e.event_id, Jsonb(before.vector_clock.as_dict()),
                Jsonb(e.vector_clock), Jsonb(jsonable(before.values)),
                Jsonb({"event_type": e.event_type, "hlc": list(e.hlc.model_dump().values())}),
                Jsonb(jsonable(result.row.values)), "per-field LWW on HLC; terminal status wins"))
        elif result.changed or result.ordering is Ordering.AFTER:
            outcomes[e.event_id] = "applied"
        else:
            outcomes[e.event_id] = "stale"
    merged = list(rows.values())
    conn.execute(_sql.UPDATE_TASKS, (
        [r.id for r in merged], *([r.values[k] for r in merged] for k in (
            "title", "description", "status", "priority", "assigned_to", "shift_id",
            "due_date", "completed_at", "emr_system", "emr_reference")),
        [Jsonb({k: list(v) for k, v in r.field_clocks.items()}) for r in merged],
        [Jsonb(r.vector_clock.as_dict()) for r in merged], [r.hlc[0] for r in merged],
        [r.hlc[1] for r in merged], [r.origin_node for r in merged],
        [r.last_event_id for r in merged]))
    if conflicts:
        conn.execute(_sql.CONFLICTS, tuple(list(col) for col in zip(*conflicts, strict=True)))
    return outcomes


def _write_audit(conn: Conn, fresh: list[tuple[ConsumedRecord, TaskEvent]],
                 outcomes: dict[UUID, str]) -> None:
    conn.execute(_sql.AUDIT, (
        [e.event_id for _, e in fresh], [e.event_type for _, e in fresh],
        [e.event_type.lower() for _, e in fresh], ["task" for _ in fresh],
        [e.aggregate_id for _, e in fresh], [e.actor.id for _, e in fresh],
        [e.actor.role for _, e in fresh], [e.task.patient.id for _, e in fresh],
        [e.source_system if e.source_system in _EMRS else None for _, e in fresh],
        [e.source_system for _, e in fresh], [r.topic for r, _ in fresh],
        [r.partition for r, _ in fresh], [r.offset for r, _ in fresh],
        [Jsonb({"outcome": outcomes[e.event_id], "origin_node": e.origin_node})
         for _, e in fresh]))
