"""Typed models of the events, mirroring ``schemas/*/v1.avsc`` field for field.

``to_avro()`` gives the dict fastavro writes; ``event_from_avro()`` builds the model back
from a decoded record. A test checks every model against its schema both ways.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from streams.contracts.errors import SchemaMismatchError

__all__ = [
    "MODEL_VERSIONS",
    "AnyEvent",
    "DepartmentSnapshot",
    "FieldCheck",
    "HandedOverTask",
    "HandoverAccepted",
    "HandoverCompleted",
    "HandoverEvent",
    "HandoverInitiated",
    "HandoverRejected",
    "HandoverSnapshot",
    "HybridTimestamp",
    "PatientSnapshot",
    "ShiftSnapshot",
    "TaskAssigned",
    "TaskCancelled",
    "TaskCompleted",
    "TaskCreated",
    "TaskEvent",
    "TaskSnapshot",
    "TaskStatusChanged",
    "TaskUpdated",
    "UserSnapshot",
    "VerificationEvent",
    "VerificationFailed",
    "VerificationRequested",
    "VerificationSnapshot",
    "VerificationVerified",
    "event_from_avro",
    "event_type_of",
]

NAMESPACE = "org.emrstreams.events"
SourceSystem = Literal["EPIC", "CERNER", "GENERIC_FHIR", "DEVICE", "UNKNOWN"]
EmrSystem = Literal["EPIC", "CERNER", "GENERIC_FHIR"]
UserRole = Literal["NURSE", "DOCTOR", "SUPERVISOR", "ADMIN", "AUDITOR"]
TaskStatus = Literal["PENDING", "IN_PROGRESS", "BLOCKED", "COMPLETED", "CANCELLED"]
TaskPriority = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
Counter = Annotated[int, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Identity snapshots ---------------------------------------------------------------------
class UserSnapshot(_Model):
    id: UUID
    username: str = Field(min_length=1, max_length=100)
    display_name: str = Field(min_length=1, max_length=200)
    role: UserRole


class DepartmentSnapshot(_Model):
    id: UUID
    code: str = Field(pattern=r"^[A-Z0-9_-]{1,32}$")
    name: str = Field(min_length=1, max_length=200)


class PatientSnapshot(_Model):
    id: UUID
    mrn: str = Field(min_length=1, max_length=64)
    emr_system: EmrSystem
    emr_id: str = Field(min_length=1, max_length=128)
    first_name: str | None = None
    last_name: str | None = None
    date_of_birth: date | None = None
    sealed_phi: str | None = None


class ShiftSnapshot(_Model):
    id: UUID
    department: DepartmentSnapshot
    supervisor: UserSnapshot
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class HybridTimestamp(_Model):
    physical_us: Counter
    logical: Counter
    node: str = Field(min_length=1, max_length=128)


class TaskSnapshot(_Model):
    patient: PatientSnapshot
    department: DepartmentSnapshot
    created_by: UserSnapshot
    title: str = Field(min_length=1, max_length=500)
    priority: TaskPriority
    created_at: AwareDatetime


class HandoverSnapshot(_Model):
    from_shift: ShiftSnapshot
    to_shift: ShiftSnapshot
    initiated_by: UserSnapshot


class VerificationSnapshot(_Model):
    task_id: UUID
    task: TaskSnapshot
    emr_system: EmrSystem
    emr_reference: str | None = None


# Payloads -------------------------------------------------------------------------------
class TaskCreated(_Model):
    description: str | None = None
    status: TaskStatus = "PENDING"
    assigned_to: UserSnapshot | None = None
    shift: ShiftSnapshot | None = None
    due_at: AwareDatetime | None = None
    emr_system: EmrSystem | None = None
    emr_reference: str | None = None


class TaskUpdated(_Model):
    title: str | None = Field(None, min_length=1, max_length=500)
    description: str | None = None
    priority: TaskPriority | None = None
    due_at: AwareDatetime | None = None


class TaskAssigned(_Model):
    assigned_to: UserSnapshot | None = None
    shift: ShiftSnapshot | None = None


class TaskStatusChanged(_Model):
    status: TaskStatus
    reason: str | None = None


class TaskCompleted(_Model):
    completed_at: AwareDatetime
    note: str | None = None


class TaskCancelled(_Model):
    reason: str


class HandedOverTask(_Model):
    task_id: UUID
    patient: PatientSnapshot
    status: TaskStatus
    summary: str | None = None


class HandoverInitiated(_Model):
    tasks: tuple[HandedOverTask, ...] = ()
    notes: str | None = None


class HandoverAccepted(_Model):
    accepted_by: UserSnapshot


class HandoverRejected(_Model):
    rejected_by: UserSnapshot
    reason: str


class HandoverCompleted(_Model):
    completed_at: AwareDatetime


class FieldCheck(_Model):
    field: str = Field(min_length=1, max_length=100)
    matched: bool
    emr_value_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class VerificationRequested(_Model):
    requested_by: UserSnapshot
    fields: tuple[str, ...] = ()


class VerificationVerified(_Model):
    verified_by: UserSnapshot
    checks: tuple[FieldCheck, ...] = ()
    verified_at: AwareDatetime


class VerificationFailed(_Model):
    verified_by: UserSnapshot
    checks: tuple[FieldCheck, ...] = ()
    failure_reason: str
    verified_at: AwareDatetime


TaskPayload = (TaskCreated | TaskUpdated | TaskAssigned | TaskStatusChanged | TaskCompleted
               | TaskCancelled)
HandoverPayload = HandoverInitiated | HandoverAccepted | HandoverRejected | HandoverCompleted
VerificationPayload = VerificationRequested | VerificationVerified | VerificationFailed


def event_type_of(payload: type[BaseModel] | BaseModel) -> str:
    """``TaskStatusChanged`` → ``TASK_STATUS_CHANGED``: the event_type of a payload (class)."""
    cls = payload if isinstance(payload, type) else type(payload)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).upper()


# Events -----------------------------------------------------------------------------------
class _Event(_Model):
    """The envelope every event carries."""

    schema_name: ClassVar[str]
    aggregate_type: ClassVar[str]
    snapshot_field: ClassVar[str]

    event_id: UUID
    aggregate_id: UUID
    occurred_at: AwareDatetime
    hlc: HybridTimestamp
    vector_clock: dict[str, Counter]
    origin_node: str = Field(min_length=1, max_length=128)
    source_system: SourceSystem
    actor: UserSnapshot
    correlation_id: UUID
    causation_id: UUID | None = None

    @property
    def event_type(self) -> str:
        return event_type_of(getattr(self, "payload"))  # noqa: B009

    def to_avro(self) -> dict[str, Any]:
        """The record fastavro writes (union branches named, so none is ambiguous)."""
        record: dict[str, Any] = _plain(self.model_dump(mode="python"))
        payload = getattr(self, "payload")  # noqa: B009
        record["payload"] = (f"{NAMESPACE}.{type(payload).__name__}", record["payload"])
        record["event_type"] = self.event_type
        record["aggregate_type"] = self.aggregate_type
        # One encoding per event in any language: map entries (the vector clock, the only
        # map) in ascending order of their keys' UTF-8 bytes (docs/contracts.md, Framing).
        record["vector_clock"] = dict(sorted(record["vector_clock"].items()))
        return record


def _plain(value: Any) -> Any:
    """Tuples (the models keep arrays immutable) become the lists fastavro writes."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


class TaskEvent(_Event):
    """A change to a task (topic emr.tasks.v1)."""

    schema_name: ClassVar[str] = "task_event"
    aggregate_type: ClassVar[str] = "task"
    snapshot_field: ClassVar[str] = "task"
    task: TaskSnapshot
    payload: TaskPayload


class HandoverEvent(_Event):
    """A change to a shift handover (topic emr.handovers.v1)."""

    schema_name: ClassVar[str] = "handover_event"
    aggregate_type: ClassVar[str] = "handover"
    snapshot_field: ClassVar[str] = "handover"
    handover: HandoverSnapshot
    payload: HandoverPayload


class VerificationEvent(_Event):
    """A change to an EMR verification (topic emr.verifications.v1)."""

    schema_name: ClassVar[str] = "verification_event"
    aggregate_type: ClassVar[str] = "emr_verification"
    snapshot_field: ClassVar[str] = "verification"
    verification: VerificationSnapshot
    payload: VerificationPayload


AnyEvent = TaskEvent | HandoverEvent | VerificationEvent

_EVENTS: dict[str, type[_Event]] = {e.schema_name: e for e in (TaskEvent, HandoverEvent,
                                                                VerificationEvent)}

#: The schema version each event model mirrors: what the SDK writes and what decoded
#: records are resolved into (a newer .avsc teaches readers its writer, not new fields).
MODEL_VERSIONS: dict[str, int] = {"task_event": 2, "handover_event": 2,
                                  "verification_event": 2}
_PAYLOADS: dict[str, type[_Model]] = {
    event_type_of(cls): cls
    for cls in (TaskCreated, TaskUpdated, TaskAssigned, TaskStatusChanged, TaskCompleted,
                TaskCancelled, HandoverInitiated, HandoverAccepted, HandoverRejected,
                HandoverCompleted, VerificationRequested, VerificationVerified,
                VerificationFailed)}


def event_from_avro(schema_name: str, record: dict[str, Any]) -> AnyEvent:
    """Build the typed event from a record decoded with schema *schema_name*.

    Raises SchemaMismatchError when the record breaks a rule the schema cannot express
    (a payload branch that does not match event_type, a malformed code); the message
    names fields, never values.
    """
    cls = _EVENTS.get(schema_name)
    payload_cls = _PAYLOADS.get(str(record.get("event_type")))
    if cls is None or payload_cls is None:
        raise SchemaMismatchError(f"{schema_name}: unknown event type")
    fields = {k: v for k, v in record.items() if k not in {"event_type", "aggregate_type"}}
    try:
        fields["payload"] = payload_cls.model_validate(fields.get("payload"))
        return cls.model_validate(fields)  # type: ignore[return-value]
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}"
                          for e in exc.errors()[:5])
        raise SchemaMismatchError(f"{schema_name}: invalid event ({where})") from None
