"""Deterministic events of every type, for codec and model tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from streams.contracts.models import (
    AnyEvent,
    DepartmentSnapshot,
    FieldCheck,
    HandedOverTask,
    HandoverAccepted,
    HandoverCompleted,
    HandoverEvent,
    HandoverInitiated,
    HandoverRejected,
    HandoverSnapshot,
    HybridTimestamp,
    PatientSnapshot,
    ShiftSnapshot,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskEvent,
    TaskSnapshot,
    TaskStatusChanged,
    TaskUpdated,
    UserSnapshot,
    VerificationEvent,
    VerificationFailed,
    VerificationRequested,
    VerificationSnapshot,
    VerificationVerified,
)


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n, version=4)


T0 = datetime(2026, 11, 28, 8, 30, 15, 123456, tzinfo=UTC)
NURSE = UserSnapshot(id=uid(1), username="nurse.ada", display_name="Ada L.", role="NURSE")
SUPERVISOR = UserSnapshot(id=uid(2), username="sup.grace", display_name="Grace H.",
                          role="SUPERVISOR")
ICU = DepartmentSnapshot(id=uid(3), code="ICU_WEST", name="Intensive Care West")
PATIENT = PatientSnapshot(id=uid(4), mrn="MRN0042TEST", emr_system="EPIC", emr_id="epic-42",
                          first_name="Jane", last_name="Doe", date_of_birth=date(1961, 2, 3))
DAY = ShiftSnapshot(id=uid(5), department=ICU, supervisor=SUPERVISOR, starts_at=T0,
                    ends_at=T0.replace(hour=16))
NIGHT = ShiftSnapshot(id=uid(6), department=ICU, supervisor=SUPERVISOR,
                      starts_at=T0.replace(hour=16), ends_at=T0.replace(day=29, hour=0))
TASK = TaskSnapshot(patient=PATIENT, department=ICU, created_by=NURSE, title="Check vitals",
                    priority="HIGH", created_at=T0)
ENVELOPE = {"occurred_at": T0, "hlc": HybridTimestamp(physical_us=1_795_000_000_000_000,
                                                      logical=3, node="tablet-7"),
            "vector_clock": {"tablet-7": 4, "epic-adapter": 2}, "origin_node": "tablet-7",
            "source_system": "EPIC", "actor": NURSE, "correlation_id": uid(7)}

TASK_PAYLOADS = [
    TaskCreated(description="BP twice hourly", status="PENDING", assigned_to=NURSE, shift=DAY,
                due_at=T0, emr_system="EPIC", emr_reference="ORD-1"),
    TaskUpdated(title="Check vitals q1h", priority="CRITICAL"),
    TaskAssigned(assigned_to=None, shift=NIGHT),
    TaskStatusChanged(status="BLOCKED", reason="patient in imaging"),
    TaskCompleted(completed_at=T0, note="stable after fluids"),
    TaskCancelled(reason="duplicate order"),
]
HANDOVER = HandoverSnapshot(from_shift=DAY, to_shift=NIGHT, initiated_by=SUPERVISOR)
HANDOVER_PAYLOADS = [
    HandoverInitiated(tasks=(HandedOverTask(task_id=uid(8), patient=PATIENT, status="PENDING",
                                            summary="S: stable after fluids"),),
                      notes="quiet shift"),
    HandoverAccepted(accepted_by=NURSE),
    HandoverRejected(rejected_by=NURSE, reason="missing meds list"),
    HandoverCompleted(completed_at=T0),
]
VERIFICATION = VerificationSnapshot(task_id=uid(8), task=TASK, emr_system="CERNER",
                                    emr_reference="ENC-9")
CHECK = FieldCheck(field="allergies", matched=True, emr_value_sha256="ab" * 32)
VERIFICATION_PAYLOADS = [
    VerificationRequested(requested_by=NURSE, fields=("allergies", "dose")),
    VerificationVerified(verified_by=NURSE, checks=(CHECK,), verified_at=T0),
    VerificationFailed(verified_by=NURSE, checks=(CHECK,), failure_reason="dose mismatch",
                       verified_at=T0),
]


def every_event() -> list[AnyEvent]:
    """One event of each of the 13 event types."""
    events: list[AnyEvent] = []
    n = 100
    for payload in TASK_PAYLOADS:
        n += 1
        events.append(TaskEvent(event_id=uid(n), aggregate_id=uid(50), task=TASK,
                                payload=payload, **ENVELOPE))
    for payload in HANDOVER_PAYLOADS:
        n += 1
        events.append(HandoverEvent(event_id=uid(n), aggregate_id=uid(51), handover=HANDOVER,
                                    payload=payload, **ENVELOPE))
    for payload in VERIFICATION_PAYLOADS:
        n += 1
        events.append(VerificationEvent(event_id=uid(n), aggregate_id=uid(52),
                                        verification=VERIFICATION, payload=payload,
                                        **ENVELOPE))
    return events
