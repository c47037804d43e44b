"""The merge rule: a pure function of an aggregate's current row and one event.

* Each field is a last-writer-wins register on the event's hybrid logical clock
  ``(physical_us, logical, node)``, then the event id for identical readings: a write
  replaces a field only if its clock is greater than the clock of the write that set the
  field (kept in ``field_clocks``).
* ``status`` is monotone where it matters clinically: each aggregate ranks its statuses
  (a task: open < COMPLETED/CANCELLED; a handover: INITIATED < ACCEPTED/REJECTED <
  COMPLETED; a verification: PENDING < VERIFIED/FAILED) and a higher rank beats a lower one
  whatever their clocks, so a finished task never silently reopens; between two statuses
  of the same rank, the later clock wins.
* The row's vector clock is the element-wise maximum of every event's clock; comparing an
  event's clock with the row's tells a causal successor (AFTER) from an event already
  reflected (BEFORE/EQUAL) or a concurrent offline edit (CONCURRENT, recorded for review).

Every rule is a join (commutative, associative, idempotent), so any permutation of the
same events, with duplicates, yields the same row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from streams.contracts.clocks import Ordering, VectorClock
from streams.contracts.models import AnyEvent

__all__ = ["FieldClock", "MergeResult", "Row", "jsonable", "merge_event"]

#: (physical_us, logical, node, event_id): the total order of writes. The HLC orders them;
#: the event id only breaks ties between events that carry the very same HLC reading.
FieldClock = tuple[int, int, str, str]


@dataclass(frozen=True)
class Row:
    """An aggregate's row: fixed references, mergeable values and the merge state."""

    id: UUID
    refs: Mapping[str, Any]
    values: dict[str, Any]
    field_clocks: dict[str, FieldClock] = field(default_factory=dict)
    vector_clock: VectorClock = field(default_factory=VectorClock)
    hlc: tuple[int, int] = (0, 0)
    origin_node: str | None = None
    last_event_id: UUID | None = None


@dataclass(frozen=True)
class MergeResult:
    """The row after the event, how the event related to it, and whether anything changed."""

    row: Row
    ordering: Ordering
    changed: bool


def _wins(name: str, value: Any, clock: FieldClock, row: Row,
          rank: Callable[[Any], int]) -> bool:
    if name == "status":
        new_rank, old_rank = rank(value), rank(row.values.get("status"))
        if new_rank != old_rank:
            return new_rank > old_rank
    current = row.field_clocks.get(name)
    return current is None or clock > current


def merge_event(row: Row, event: AnyEvent, writes: Mapping[str, Any],
                rank: Callable[[Any], int]) -> MergeResult:
    """Merge *event*, which sets the fields *writes*, into *row* (rules above)."""
    clock: FieldClock = (event.hlc.physical_us, event.hlc.logical, event.hlc.node,
                         str(event.event_id))
    remote = VectorClock.from_mapping(event.vector_clock)
    ordering = remote.compare(row.vector_clock)
    values = dict(row.values)
    clocks = dict(row.field_clocks)
    for name, value in writes.items():
        if _wins(name, value, clock, row, rank):
            values[name] = value
            clocks[name] = clock
    newest = clocks.get("_event")
    is_newest = newest is None or clock > newest
    if is_newest:
        clocks["_event"] = clock
    merged = replace(
        row, values=values, field_clocks=clocks,
        vector_clock=row.vector_clock.merge(remote).truncated(),  # the stored bound
        hlc=max(row.hlc, (event.hlc.physical_us, event.hlc.logical)),
        origin_node=event.origin_node if is_newest else row.origin_node,
        last_event_id=event.event_id if is_newest else row.last_event_id)
    return MergeResult(merged, ordering, values != row.values)


def jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    """Field values as JSON (for the conflicts table and the state topics)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, UUID | datetime | date):
            out[key] = str(value)
        elif isinstance(value, list | tuple):
            out[key] = [str(v) if isinstance(v, UUID) else v for v in value]
        else:
            out[key] = value
    return out
