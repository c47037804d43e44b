"""What the apply path receives from any consumer runtime (faust, confluent-kafka, tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["ConsumedRecord", "Poison", "normalize_headers"]

RawHeaders = Mapping[str, object] | Iterable[tuple[str, object]] | None


def normalize_headers(raw: RawHeaders) -> tuple[tuple[str, bytes | None], ...]:
    """Headers as Kafka clients hand them (a list of pairs or a mapping; str or bytes
    values) as the (name, bytes) pairs the apply path and the dead-letter topic keep."""
    if raw is None:
        return ()
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    return tuple((str(k), v if isinstance(v, bytes) or v is None else str(v).encode())
                 for k, v in pairs)


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
