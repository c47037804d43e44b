"""The walking skeleton's task event, JSON-encoded (the Avro contracts replace it, issue #4)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from streams.contracts.errors import DecodeError

__all__ = ["TaskEvent", "decode_task_event", "encode_task_event"]

TaskStatus = Literal["PENDING", "IN_PROGRESS", "COMPLETED", "CANCELLED"]
TaskPriority = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
SourceSystem = Literal["EPIC", "CERNER", "GENERIC_FHIR", "DEVICE"]


class TaskEvent(BaseModel):
    """A change to one task, as an EMR adapter reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID
    event_type: Literal["task.created", "task.status_changed"]
    task_id: UUID
    occurred_at: AwareDatetime
    title: str = Field(min_length=1, max_length=500)
    status: TaskStatus
    priority: TaskPriority
    department_code: str = Field(min_length=1, max_length=64)
    source_system: SourceSystem


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
