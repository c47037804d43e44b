"""Event contracts shared by adapters, the processor and downstream consumers."""

from __future__ import annotations

from streams.contracts.errors import ContractError, DecodeError
from streams.contracts.task_event import TaskEvent, decode_task_event, encode_task_event

__all__ = ["ContractError", "DecodeError", "TaskEvent", "decode_task_event", "encode_task_event"]
