"""The merge rule for tasks: a pure function of the current row and one event.

* Each field is a last-writer-wins register on the event's hybrid logical clock
  ``(physical_us, logical, node)``: a write replaces a field only if its clock is greater
  than the clock of the write that set the field (kept in ``field_clocks``).
* ``status`` is monotone where it matters clinically: a terminal status (COMPLETED,
  CANCELLED) beats any non-terminal one whatever their clocks, so a finished task never
  silently reopens; between two statuses of the same class, the later clock wins.
* The row's vector clock is the element-wise maximum of every event's clock; comparing an
  event's clock with the row's tells a causal successor (AFTER) from an event already
  reflected (BEFORE/EQUAL) or a concurrent offline edit (CONCURRENT, recorded for review).

Every rule is a join (commutative, associative, idempotent), so any permutation of the
same events, with duplicates, yields the same row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from streams.contracts.clocks import Ordering, VectorClock
from streams.contracts.models import (
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskEvent,
    TaskStatusChanged,
    TaskUpdated,
)

__all__ = ["FieldClock", "MergeResult", "TaskRow", "merge_event", "placeholder_row"]

#: (physical_us, logical, node): the total order of writes.
FieldClock = tuple[int, int, str]
_TERMINAL = frozenset({"COMPLETED", "CANCELLED"})
#: Fields an event can write (the row's other columns are the task's fixed references).
MERGED_FIELDS = ("title", "description", "status", "priority", "assigned_to", "shift_id",
                 "due_date", "completed_at", "emr_system", "emr_reference")


@dataclass(frozen=True)
class TaskRow:
    """A task as the tasks table holds it, with its merge state."""

    id: UUID
    patient_id: UUID
    created_by: UUID
    department_id: UUID
    values: dict[str, Any]
    field_clocks: dict[str, FieldClock] = field(default_factory=dict)
    vector_clock: VectorClock = field(default_factory=VectorClock)
    hlc: tuple[int, int] = (0, 0)
    origin_node: str | None = None
    last_event_id: UUID | None = None


@dataclass(frozen=True)
class MergeResult:
    """The row after the event, how the event related to it, and whether anything changed."""

    row: TaskRow
    ordering: Ordering
    changed: bool


def placeholder_row(event: TaskEvent) -> TaskRow:
    """The row a task starts as, from the snapshot every task event carries."""
    snapshot = event.task
    return TaskRow(
        id=event.aggregate_id, patient_id=snapshot.patient.id,
        created_by=snapshot.created_by.id, department_id=snapshot.department.id,
        values={"title": snapshot.title, "priority": snapshot.priority, "status": "PENDING",
                "description": None, "assigned_to": None, "shift_id": None, "due_date": None,
                "completed_at": None, "emr_system": None, "emr_reference": None})


def writes_of(event: TaskEvent) -> dict[str, Any]:
    """The fields *event* sets, and their values."""
    payload = event.payload
    if isinstance(payload, TaskCreated):
        return {"title": event.task.title, "priority": event.task.priority,
                "description": payload.description, "status": payload.status,
                "assigned_to": payload.assigned_to.id if payload.assigned_to else None,
                "shift_id": payload.shift.id if payload.shift else None,
                "due_date": payload.due_at, "emr_system": payload.emr_system,
                "emr_reference": payload.emr_reference}
    if isinstance(payload, TaskUpdated):
        changes = {"title": payload.title, "description": payload.description,
                   "priority": payload.priority, "due_date": payload.due_at}
        return {k: v for k, v in changes.items() if v is not None}
    if isinstance(payload, TaskAssigned):
        writes: dict[str, Any] = {
            "assigned_to": payload.assigned_to.id if payload.assigned_to else None}
        if payload.shift is not None:
            writes["shift_id"] = payload.shift.id
        return writes
    if isinstance(payload, TaskStatusChanged):
        return {"status": payload.status}
    if isinstance(payload, TaskCompleted):
        return {"status": "COMPLETED", "completed_at": payload.completed_at}
    if isinstance(payload, TaskCancelled):
        return {"status": "CANCELLED"}
    raise TypeError(f"not a task payload: {type(payload).__name__}")


def _wins(field_name: str, value: Any, clock: FieldClock, row: TaskRow) -> bool:
    current = row.field_clocks.get(field_name)
    if field_name == "status":
        rank_new = value in _TERMINAL
        rank_old = row.values.get("status") in _TERMINAL
        if rank_new != rank_old:
            return rank_new
    return current is None or clock > current


def merge_event(row: TaskRow, event: TaskEvent) -> MergeResult:
    """Merge *event* into *row* (see the module docstring for the rules)."""
    clock: FieldClock = (event.hlc.physical_us, event.hlc.logical, event.hlc.node)
    remote = VectorClock.from_mapping(event.vector_clock)
    ordering = remote.compare(row.vector_clock)
    values = dict(row.values)
    clocks = dict(row.field_clocks)
    for name, value in writes_of(event).items():
        if _wins(name, value, clock, row):
            values[name] = value
            clocks[name] = clock
    newest = clocks.get("_event")
    is_newest = newest is None or clock > newest
    if is_newest:
        clocks["_event"] = clock
    merged = replace(
        row, values=values, field_clocks=clocks, vector_clock=row.vector_clock.merge(remote),
        hlc=max(row.hlc, (event.hlc.physical_us, event.hlc.logical)),
        origin_node=event.origin_node if is_newest else row.origin_node,
        last_event_id=event.event_id if is_newest else row.last_event_id)
    changed = values != row.values
    return MergeResult(merged, ordering, changed)


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Field values as JSON (for the conflicts table)."""
    return {k: (str(v) if isinstance(v, UUID | datetime) else v) for k, v in values.items()}
