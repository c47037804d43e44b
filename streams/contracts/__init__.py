"""Event contracts shared by adapters, the processor and downstream consumers."""

from __future__ import annotations

from streams.contracts.errors import ContractError, DecodeError
from streams.contracts.task_event import (
    DepartmentRef,
    PatientRef,
    TaskEvent,
    UserRef,
    decode_task_event,
    encode_task_event,
)

__all__ = [
    "ContractError",
    "DecodeError",
    "DepartmentRef",
    "PatientRef",
    "TaskEvent",
    "UserRef",
    "decode_task_event",
    "encode_task_event",
]
