"""Bounds on what the sink stores and publishes, enforced when it is written.

Input bounds (``streams.contracts.bounds``) limit one event; these limit what many events
build together: a merged state must fit a Kafka message to be published, and a conflict
row must stay small enough to review. Values past a bound are replaced by their size and
digest (conflict rows), or set aside (states): never a row that cannot be read back or
published.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["MAX_CONFLICT_VALUE_BYTES", "MAX_STATE_BYTES", "bounded", "encode_state",
           "oversized_state"]

#: Largest merged state published (JSON bytes): within librdkafka's default
#: message.max.bytes with room for key and headers, like the dead letters.
MAX_STATE_BYTES = 900_000
#: Largest JSON value kept in one column of a conflict row.
MAX_CONFLICT_VALUE_BYTES = 65_536


def encode_state(state: dict[str, Any]) -> bytes:
    """A state as the relay publishes it (sorted keys, UTF-8 JSON)."""
    return json.dumps(state, sort_keys=True, default=str).encode()


def oversized_state(state: dict[str, Any] | bytes) -> str | None:
    """Why *state* (or its :func:`encode_state` bytes) cannot be published, or None."""
    size = len(state if isinstance(state, bytes) else encode_state(state))
    if size > MAX_STATE_BYTES:
        return f"state of {size} bytes is larger than {MAX_STATE_BYTES}"
    return None


def bounded(value: Any, limit: int = MAX_CONFLICT_VALUE_BYTES) -> Any:
    """*value*, or ``{"omitted_bytes": n, "sha256": …}`` when its JSON is over *limit*."""
    text = json.dumps(value, sort_keys=True, default=str).encode()
    if len(text) <= limit:
        return value
    return {"omitted_bytes": len(text), "sha256": hashlib.sha256(text).hexdigest()}
