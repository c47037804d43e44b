"""The SDK: publish typed domain events (adapters) and subscribe to them (downstream)."""

from __future__ import annotations

from streams.contracts.models import (
    DepartmentSnapshot,
    HandoverEvent,
    PatientSnapshot,
    ShiftSnapshot,
    TaskEvent,
    TaskSnapshot,
    UserSnapshot,
    VerificationEvent,
)
from streams.sdk.clock_keeper import ClockKeeper
from streams.sdk.publisher import EventPublisher, topic_for
from streams.sdk.subscriber import EventSubscriber, UndecodableMessageError

__all__ = [
    "ClockKeeper",
    "DepartmentSnapshot",
    "EventPublisher",
    "EventSubscriber",
    "HandoverEvent",
    "PatientSnapshot",
    "ShiftSnapshot",
    "TaskEvent",
    "TaskSnapshot",
    "UndecodableMessageError",
    "UserSnapshot",
    "VerificationEvent",
    "topic_for",
]
