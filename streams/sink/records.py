"""What the apply path receives from any consumer runtime (faust, confluent-kafka, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ConsumedRecord", "Poison"]


@dataclass(frozen=True, kw_only=True)
class ConsumedRecord:
    """One message as read from Kafka, with its position."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = field(default_factory=tuple)
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Poison:
    """A record that can never be applied, and why (never holds PHI)."""

    record: ConsumedRecord
    reason: str
    error_class: str
    stage: str
