"""The one apply path: a batch of consumed records becomes one PostgreSQL transaction."""

from __future__ import annotations

from streams.sink.apply import BatchOutcome, apply_batch
from streams.sink.records import ConsumedRecord, Poison

__all__ = ["BatchOutcome", "ConsumedRecord", "Poison", "apply_batch"]
