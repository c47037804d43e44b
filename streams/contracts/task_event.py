"""The walking skeleton's task event, JSON-encoded (the Avro contracts replace it, issue #4).

Each event carries identity snapshots of the department, users and patient it refers to,
so the sink can get-or-create them and never depends on the order of other topics.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from streams.contracts.errors import DecodeError

__all__ = [
    "DepartmentRef",
    "PatientRef",
    "TaskEvent",
    "UserRef",
    "decode_task_event",
    "encode_task_event",
]

TaskStatus = Literal["PENDING", "IN_PROGRESS", "BLOCKED", "COMPLETED", "CANCELLED"]
TaskPriority = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
SourceSystem = Literal["EPIC", "CERNER", "GENERIC_FHIR", "DEVICE"]
EmrSystem = Literal["EPIC", "CERNER", "GENERIC_FHIR"]
UserRole = Literal["NURSE", "DOCTOR", "SUPERVISOR", "ADMIN", "AUDITOR"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DepartmentRef(_Frozen):
    """Identity snapshot of a department."""

    id: UUID
    code: str = Field(pattern=r"^[A-Z0-9_-]{1,32}$")
    name: str = Field(min_length=1, max_length=200)


class UserRef(_Frozen):
    """Identity snapshot of a member of staff."""

    id: UUID
    username: str = Field(min_length=1, max_length=100)
    display_name: str = Field(min_length=1, max_length=200)
    role: UserRole


class PatientRef(_Frozen):
    """Identity snapshot of a patient: identifiers only, no PHI beyond the MRN."""

    id: UUID
    mrn: str = Field(min_length=1, max_length=64)
    emr_system: EmrSystem
    emr_id: str = Field(min_length=1, max_length=128)


class TaskEvent(_Frozen):
    """A change to one task, as an EMR adapter reports it."""

    event_id: UUID
    event_type: Literal["task.created", "task.status_changed"]
    task_id: UUID
    occurred_at: AwareDatetime
    title: str = Field(min_length=1, max_length=500)
    status: TaskStatus
    priority: TaskPriority
    source_system: SourceSystem
    department: DepartmentRef
    created_by: UserRef
    patient: PatientRef
    assigned_to: UserRef | None = None


def encode_task_event(event: TaskEvent) -> bytes:
    """Serialise *event* to its wire bytes."""
    return event.model_dump_json().encode()


def decode_task_event(data: bytes | None) -> TaskEvent:
    """Parse wire bytes; raise DecodeError (never anything else) on bad input."""
    if data is None:
        raise DecodeError("empty message value (tombstone) on an event topic")
    try:
        return TaskEvent.model_validate_json(data)
    except ValidationError as exc:
        # Only the error locations and kinds: the input values may hold PHI.
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['type']}"
                            for e in exc.errors()[:5])
        raise DecodeError(f"invalid task event ({reasons})") from None
