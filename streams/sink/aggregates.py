"""What differs between tasks, handovers and EMR verifications: one spec per aggregate.

Each spec is built on its aggregate's entry in ``streams.registry`` (schema, aggregate
type, table name), and ``SPECS`` has one per entry. A spec says which columns hold the
aggregate, how a row starts from the snapshot every event carries, which fields each event
type writes, how statuses rank (the monotone rule) and which identities an event lets the
sink get-or-create.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from streams.contracts.clocks import VectorClock
from streams.contracts.models import (
    AnyEvent,
    HandoverAccepted,
    HandoverCompleted,
    HandoverEvent,
    HandoverInitiated,
    HandoverRejected,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskEvent,
    TaskSnapshot,
    TaskStatusChanged,
    TaskUpdated,
    VerificationEvent,
    VerificationFailed,
    VerificationRequested,
    VerificationVerified,
)
from streams.registry import AGGREGATES, Aggregate, by_schema
from streams.sink._table import Column, TableSql
from streams.sink.identities import IdentityBatch
from streams.sink.merge import Row

__all__ = ["SPECS", "AggregateSpec", "spec_for", "task_refs"]


def _ranks(*tiers: tuple[str, ...]) -> dict[str, int]:
    return {status: rank for rank, tier in enumerate(tiers) for status in tier}


@dataclass(frozen=True)
class AggregateSpec:
    """How one aggregate is stored and merged (subclasses fill the event-specific parts)."""

    #: Its entry in ``streams.registry``: schema, aggregate type, table name.
    aggregate: Aggregate
    table: TableSql
    ranks: dict[str, int]
    #: The value columns that hold PHI (free text the schemas mark ``"phi": true``).
    phi_values: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.table.table != self.aggregate.table:
            raise ValueError(f"{self.aggregate_type}: table {self.table.table!r} is not the "
                             f"registry's {self.aggregate.table!r}")

    @property
    def schema_name(self) -> str:
        return self.aggregate.schema_name

    @property
    def aggregate_type(self) -> str:
        return self.aggregate.aggregate_type

    def rank(self, status: Any) -> int:
        return self.ranks.get(str(status), 0)

    def claims(self, event: AnyEvent) -> dict[str, Any]:
        """The references (and created_at) *event*'s snapshot claims for its aggregate."""
        raise NotImplementedError

    def placeholder(self, event: AnyEvent) -> Row:
        raise NotImplementedError

    def writes(self, event: AnyEvent) -> dict[str, Any]:
        raise NotImplementedError

    def collect(self, event: AnyEvent, ids: IdentityBatch) -> None:
        raise NotImplementedError

    # Rows to and from the table ---------------------------------------------------------
    def row_from_db(self, values: tuple[Any, ...]) -> Row:
        refs = self.table.refs
        cols = self.table.values
        head = values[1:1 + len(refs)]
        body = values[1 + len(refs):1 + len(refs) + len(cols)]
        clocks, vector, physical, logical, origin, last, updated = values[
            1 + len(refs) + len(cols):]
        converted = {c.name: (_uuids(v) if c.type == "uuid[]" else v)
                     for c, v in zip(cols, body, strict=True)}
        return Row(id=values[0], refs=dict(zip((c.name for c in refs), head, strict=True)),
                   values=converted,
                   field_clocks={k: (int(v[0]), int(v[1]), str(v[2]),
                                     str(v[3]) if len(v) > 3 else "")
                                 for k, v in clocks.items()},
                   vector_clock=VectorClock.from_mapping(vector),
                   hlc=(int(physical), int(logical)), origin_node=origin,
                   last_event_id=last, updated_at=updated)

    def placeholder_params(self, rows: list[Row]) -> tuple[list[Any], ...]:
        initial = [c for c in self.table.values if c.name in self.table.placeholder_values]
        return ([r.id for r in rows], *([r.refs[c.name] for r in rows] for c in self.table.refs),
                *([_wire(c, r.values[c.name]) for r in rows] for c in initial))

    def update_params(self, rows: list[Row]) -> tuple[list[Any], ...]:
        return ([r.id for r in rows], *([r.refs[c.name] for r in rows] for c in self.table.refs),
                *([_wire(c, r.values[c.name]) for r in rows] for c in self.table.values),
                [Jsonb({k: list(v) for k, v in r.field_clocks.items()}) for r in rows],
                [Jsonb(r.vector_clock.as_dict()) for r in rows], [r.hlc[0] for r in rows],
                [r.hlc[1] for r in rows], [r.origin_node for r in rows],
                [r.last_event_id for r in rows], [r.updated_at for r in rows])


def _uuids(value: Any) -> list[UUID]:
    return [UUID(str(v)) for v in value or []]


def _wire(column: Column, value: Any) -> Any:
    if column.wire == "jsonb":
        return Jsonb([str(v) for v in value] if column.type == "uuid[]" else value)
    return value


# Tasks ----------------------------------------------------------------------------------
class _TaskSpec(AggregateSpec):
    def claims(self, event: AnyEvent) -> dict[str, Any]:
        assert isinstance(event, TaskEvent)
        return task_refs(event.task)

    def placeholder(self, event: AnyEvent) -> Row:
        assert isinstance(event, TaskEvent)
        snap = event.task
        return Row(id=event.aggregate_id, refs=self.claims(event),
                   values={"title": snap.title, "priority": snap.priority, "status": "PENDING",
                           "description": None, "assigned_to": None, "shift_id": None,
                           "due_date": None, "completed_at": None, "emr_system": None,
                           "emr_reference": None})

    def writes(self, event: AnyEvent) -> dict[str, Any]:
        assert isinstance(event, TaskEvent)
        p = event.payload
        if isinstance(p, TaskCreated):
            return {"title": event.task.title, "priority": event.task.priority,
                    "description": p.description, "status": p.status,
                    "assigned_to": p.assigned_to.id if p.assigned_to else None,
                    "shift_id": p.shift.id if p.shift else None, "due_date": p.due_at,
                    "emr_system": p.emr_system, "emr_reference": p.emr_reference}
        if isinstance(p, TaskUpdated):
            changes = {"title": p.title, "description": p.description,
                       "priority": p.priority, "due_date": p.due_at}
            return {k: v for k, v in changes.items() if v is not None}
        if isinstance(p, TaskAssigned):
            writes: dict[str, Any] = {"assigned_to": p.assigned_to.id if p.assigned_to else None}
            if p.shift is not None:
                writes["shift_id"] = p.shift.id
            return writes
        if isinstance(p, TaskStatusChanged):
            return {"status": p.status}
        if isinstance(p, TaskCompleted):
            return {"status": "COMPLETED", "completed_at": p.completed_at}
        if isinstance(p, TaskCancelled):
            return {"status": "CANCELLED"}
        raise TypeError(type(p).__name__)

    def collect(self, event: AnyEvent, ids: IdentityBatch) -> None:
        assert isinstance(event, TaskEvent)
        ids.user(event.actor)
        ids.department(event.task.department)
        ids.patient(event.task.patient)
        ids.user(event.task.created_by)
        if isinstance(event.payload, TaskCreated | TaskAssigned):
            ids.user(event.payload.assigned_to)
            ids.shift(event.payload.shift)


def task_refs(snap: TaskSnapshot) -> dict[str, Any]:
    """The references and creation time a task snapshot claims."""
    return {"patient_id": snap.patient.id, "created_by": snap.created_by.id,
            "department_id": snap.department.id, "created_at": snap.created_at}


# Handovers ------------------------------------------------------------------------------
class _HandoverSpec(AggregateSpec):
    def claims(self, event: AnyEvent) -> dict[str, Any]:
        assert isinstance(event, HandoverEvent)
        snap = event.handover
        return {"from_shift_id": snap.from_shift.id, "to_shift_id": snap.to_shift.id,
                "initiated_by": snap.initiated_by.id, "created_at": event.occurred_at}

    def placeholder(self, event: AnyEvent) -> Row:
        assert isinstance(event, HandoverEvent)
        snap = event.handover
        return Row(id=event.aggregate_id, refs=self.claims(event),
                   # Until HANDOVER_INITIATED arrives, initiated_at is the end of the
                   # shift handing over: a value every event agrees on (order-independent).
                   values={"status": "INITIATED", "accepted_by": None, "task_ids": [],
                           "notes": None, "initiated_at": snap.from_shift.ends_at,
                           "accepted_at": None, "completed_at": None})

    def writes(self, event: AnyEvent) -> dict[str, Any]:
        assert isinstance(event, HandoverEvent)
        p = event.payload
        if isinstance(p, HandoverInitiated):
            return {"task_ids": [t.task_id for t in p.tasks], "notes": p.notes,
                    "initiated_at": event.occurred_at}
        if isinstance(p, HandoverAccepted):
            return {"status": "ACCEPTED", "accepted_by": p.accepted_by.id,
                    "accepted_at": event.occurred_at}
        if isinstance(p, HandoverRejected):
            return {"status": "REJECTED"}
        if isinstance(p, HandoverCompleted):
            return {"status": "COMPLETED", "completed_at": p.completed_at}
        raise TypeError(type(p).__name__)

    def collect(self, event: AnyEvent, ids: IdentityBatch) -> None:
        assert isinstance(event, HandoverEvent)
        ids.user(event.actor)
        ids.shift(event.handover.from_shift)
        ids.shift(event.handover.to_shift)
        ids.user(event.handover.initiated_by)
        p = event.payload
        if isinstance(p, HandoverInitiated):
            for task in p.tasks:
                ids.patient(task.patient)
        elif isinstance(p, HandoverAccepted):
            ids.user(p.accepted_by)
        elif isinstance(p, HandoverRejected):
            ids.user(p.rejected_by)


# EMR verifications ------------------------------------------------------------------------
class _VerificationSpec(AggregateSpec):
    def claims(self, event: AnyEvent) -> dict[str, Any]:
        assert isinstance(event, VerificationEvent)
        return {"task_id": event.verification.task_id, "created_at": event.occurred_at}

    def placeholder(self, event: AnyEvent) -> Row:
        assert isinstance(event, VerificationEvent)
        snap = event.verification
        # verified_by starts as the task's creator (a value every event agrees on); each
        # event type then writes who requested or performed the verification.
        return Row(id=event.aggregate_id, refs=self.claims(event),
                   values={"verified_by": snap.task.created_by.id, "status": "PENDING",
                           "emr_system": snap.emr_system, "emr_reference": snap.emr_reference,
                           "checked_fields": [], "failure_reason": None, "verified_at": None})

    def writes(self, event: AnyEvent) -> dict[str, Any]:
        assert isinstance(event, VerificationEvent)
        p = event.payload
        if isinstance(p, VerificationRequested):
            return {"checked_fields": [{"field": f, "matched": None} for f in p.fields],
                    "verified_by": p.requested_by.id}
        checks = [c.model_dump() for c in p.checks]
        if isinstance(p, VerificationVerified):
            return {"status": "VERIFIED", "verified_by": p.verified_by.id,
                    "checked_fields": checks, "verified_at": p.verified_at}
        if isinstance(p, VerificationFailed):
            return {"status": "FAILED", "verified_by": p.verified_by.id,
                    "checked_fields": checks, "failure_reason": p.failure_reason,
                    "verified_at": p.verified_at}
        raise TypeError(type(p).__name__)

    def collect(self, event: AnyEvent, ids: IdentityBatch) -> None:
        assert isinstance(event, VerificationEvent)
        ids.user(event.actor)
        ids.task(event.verification.task_id, event.verification.task)
        if isinstance(event.payload, VerificationVerified | VerificationFailed):
            ids.user(event.payload.verified_by)
        else:
            ids.user(event.payload.requested_by)


TASKS = _TaskSpec(by_schema("task_event"), TableSql(
    "tasks",
    refs=(Column("patient_id", "uuid"), Column("created_by", "uuid"),
          Column("department_id", "uuid"), Column("created_at", "timestamptz")),
    values=(Column("title", "text"), Column("description", "text"),
            Column("status", "task_status"), Column("priority", "task_priority"),
            Column("assigned_to", "uuid"), Column("shift_id", "uuid"),
            Column("due_date", "timestamptz"), Column("completed_at", "timestamptz"),
            Column("emr_system", "emr_system"), Column("emr_reference", "text")),
    placeholder_values=("title", "priority")),
    _ranks(("PENDING", "IN_PROGRESS", "BLOCKED"), ("COMPLETED", "CANCELLED")),
    frozenset({"description"}))

HANDOVERS = _HandoverSpec(by_schema("handover_event"), TableSql(
    "handovers",
    refs=(Column("from_shift_id", "uuid"), Column("to_shift_id", "uuid"),
          Column("initiated_by", "uuid"), Column("created_at", "timestamptz")),
    values=(Column("status", "handover_status"), Column("accepted_by", "uuid"),
            Column("task_ids", "uuid[]", transport="jsonb"), Column("notes", "text"),
            Column("initiated_at", "timestamptz"), Column("accepted_at", "timestamptz"),
            Column("completed_at", "timestamptz")),
    placeholder_values=("initiated_at",)),
    # A rejection outranks everything: whoever else accepted or completed concurrently,
    # the receiving shift declined, so the work is flagged rather than assumed taken over.
    _ranks(("INITIATED",), ("ACCEPTED",), ("COMPLETED",), ("REJECTED",)),
    frozenset({"notes"}))

VERIFICATIONS = _VerificationSpec(by_schema("verification_event"), TableSql(
    "emr_verifications",
    refs=(Column("task_id", "uuid"), Column("created_at", "timestamptz")),
    values=(Column("verified_by", "uuid"), Column("status", "verification_status"),
            Column("emr_system", "emr_system"), Column("emr_reference", "text"),
            Column("checked_fields", "jsonb"), Column("failure_reason", "text"),
            Column("verified_at", "timestamptz")),
    placeholder_values=("verified_by", "emr_system", "emr_reference")),
    # A failed check outranks a verification: a mismatch found by anyone is never hidden.
    _ranks(("PENDING",), ("VERIFIED",), ("FAILED",)),
    frozenset({"failure_reason"}))

SPECS: dict[str, AggregateSpec] = {s.schema_name: s for s in (TASKS, HANDOVERS, VERIFICATIONS)}
if set(SPECS) != {a.schema_name for a in AGGREGATES}:
    raise RuntimeError("streams.sink.aggregates: one merge spec per entry of streams.registry")


def spec_for(schema_name: str) -> AggregateSpec:
    """The spec of the aggregate an event schema changes."""
    return SPECS[schema_name]
