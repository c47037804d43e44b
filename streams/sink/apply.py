"""Apply a batch of task events to PostgreSQL in one transaction, idempotently.

Rules (walking skeleton; issue #5 brings vector clocks and merges):

* an ``event_id`` already in ``processed_events`` is a duplicate: nothing changes;
* departments, users and patients are created from the event's identity snapshots if
  they do not exist yet (get-or-create), so no event waits for another topic;
* per task, the event with the greatest ``(occurred_at, event_id)`` wins (last writer
  wins on a total order), so any permutation of the same events gives the same row;
* every new event gets exactly one ``audit_logs`` row, in the same transaction;
* undecodable records are returned as poison for the caller to dead-letter.

Each statement handles the whole batch (``unnest`` of parallel arrays): a batch costs
six round trips, whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import psycopg

from streams.contracts import DecodeError, TaskEvent, UserRef, decode_task_event
from streams.sink import _sql
from streams.sink.records import ConsumedRecord, Poison

__all__ = ["BatchOutcome", "apply_batch"]


@dataclass
class BatchOutcome:
    """What one batch did: the counts add up to the number of records given."""

    applied: int = 0
    duplicates: int = 0
    poison: list[Poison] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.applied + self.duplicates + len(self.poison)


def _hlc(event: TaskEvent) -> tuple[int, int]:
    micros = int(event.occurred_at.timestamp() * 1_000_000)
    return micros, 0


def _order_key(event: TaskEvent) -> tuple[int, int, UUID]:
    return (*_hlc(event), event.event_id)


def _emr(event: TaskEvent) -> str | None:
    return event.source_system if event.source_system != "DEVICE" else None


def decode_batch(records: Sequence[ConsumedRecord], outcome: BatchOutcome
                 ) -> list[tuple[ConsumedRecord, TaskEvent]]:
    """Decode *records*; the undecodable ones are added to *outcome* as poison."""
    decoded = []
    for record in records:
        try:
            decoded.append((record, decode_task_event(record.value)))
        except DecodeError as exc:
            outcome.poison.append(Poison(record, str(exc), type(exc).__name__, "decode"))
    return decoded


def apply_batch(conn: psycopg.Connection[tuple[object, ...]],
                records: Sequence[ConsumedRecord]) -> BatchOutcome:
    """Apply *records* in one transaction on *conn*; return what happened to each.

    Called by the faust agents, the replay command and the tests. Raises psycopg errors
    unchanged when the database refuses the batch: nothing of it was committed, and the
    caller decides (retry a transient error, isolate the record behind a permanent one).
    """
    outcome = BatchOutcome()
    decoded = decode_batch(records, outcome)
    # The same event twice in one batch (a producer retry) counts as a duplicate.
    unique: dict[UUID, tuple[ConsumedRecord, TaskEvent]] = {}
    for record, event in decoded:
        unique.setdefault(event.event_id, (record, event))
    outcome.duplicates += len(decoded) - len(unique)
    if not unique:
        return outcome
    rows = list(unique.values())
    with conn.transaction():
        fresh_ids = {row[0] for row in conn.execute(_sql.LEDGER, (
            [e.event_id for _, e in rows], [e.event_type for _, e in rows],
            [e.task_id for _, e in rows], [r.topic for r, _ in rows],
            [r.partition for r, _ in rows], [r.offset for r, _ in rows])).fetchall()}
        fresh = [(r, e) for r, e in rows if e.event_id in fresh_ids]
        outcome.duplicates += len(rows) - len(fresh)
        outcome.applied += len(fresh)
        if fresh:
            _write_identities(conn, [e for _, e in fresh])
            _write_tasks(conn, [e for _, e in fresh])
            _write_audit(conn, fresh)
    return outcome


def _write_identities(conn: psycopg.Connection[tuple[object, ...]],
                      events: list[TaskEvent]) -> None:
    departments = {e.department.id: e.department for e in events}
    users: dict[UUID, UserRef] = {}
    for e in events:
        users.setdefault(e.created_by.id, e.created_by)
        if e.assigned_to is not None:
            users.setdefault(e.assigned_to.id, e.assigned_to)
    patients = {e.patient.id: e.patient for e in events}
    d, u, p = list(departments.values()), list(users.values()), list(patients.values())
    conn.execute(_sql.DEPARTMENTS, ([x.id for x in d], [x.code for x in d], [x.name for x in d]))
    conn.execute(_sql.USERS, ([x.id for x in u], [x.username for x in u],
                              [x.display_name for x in u], [x.role for x in u]))
    conn.execute(_sql.PATIENTS, ([x.id for x in p], [x.mrn for x in p],
                                 [x.emr_system for x in p], [x.emr_id for x in p]))


def _write_tasks(conn: psycopg.Connection[tuple[object, ...]], events: list[TaskEvent]) -> None:
    winners: dict[UUID, TaskEvent] = {}
    for event in events:
        current = winners.get(event.task_id)
        if current is None or _order_key(event) > _order_key(current):
            winners[event.task_id] = event
    w = list(winners.values())
    conn.execute(_sql.TASKS, (
        [e.task_id for e in w], [e.title for e in w], [e.status for e in w],
        [e.priority for e in w], [e.patient.id for e in w],
        [e.assigned_to.id if e.assigned_to else None for e in w],
        [e.created_by.id for e in w], [e.department.id for e in w], [_emr(e) for e in w],
        [e.occurred_at if e.status == "COMPLETED" else None for e in w],
        [_hlc(e)[0] for e in w], [_hlc(e)[1] for e in w], [e.event_id for e in w]))


def _write_audit(conn: psycopg.Connection[tuple[object, ...]],
                 fresh: list[tuple[ConsumedRecord, TaskEvent]]) -> None:
    conn.execute(_sql.AUDIT, (
        [e.event_id for _, e in fresh], [e.event_type for _, e in fresh],
        [e.event_type.rsplit(".", 1)[-1] for _, e in fresh], ["task" for _ in fresh],
        [e.task_id for _, e in fresh], [e.created_by.id for _, e in fresh],
        [e.created_by.role for _, e in fresh], [e.patient.id for _, e in fresh],
        [_emr(e) for _, e in fresh], [e.source_system for _, e in fresh],
        [r.topic for r, _ in fresh], [r.partition for r, _ in fresh],
        [r.offset for r, _ in fresh]))
