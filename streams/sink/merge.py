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
* The aggregate's references (its patient, creator, department, shifts or task) and its
  ``created_at`` are *claimed* by every event's snapshot; the earliest claim (smallest
  clock) names them, like a first-writer-wins register. A claim that differs from the row's
  is a contradiction, reported with the result for review; the event is applied.
* ``updated_at`` is the ``occurred_at`` of the newest event (greatest clock).
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

__all__ = ["FieldClock", "MergeResult", "Row", "clock_of", "jsonable", "merge_event"]

#: (physical_us, logical, node, event_id): the total order of writes. The HLC orders them;
#: the event id only breaks ties between events that carry the very same HLC reading.
FieldClock = tuple[int, int, str, str]
#: The field clock key of the references' claim and of the newest event.
REFS = "_refs"
NEWEST = "_event"
#: Claims that are facts of each event (occurred_at), not contradicted by differing.
_NOT_CONTRADICTED = frozenset({"created_at"})


def clock_of(event: AnyEvent) -> FieldClock:
    """The write clock of *event*: its HLC reading, then its id."""
    return (event.hlc.physical_us, event.hlc.logical, event.hlc.node, str(event.event_id))


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
    updated_at: datetime | None = None


@dataclass(frozen=True)
class MergeResult:
    """The row after the event, how the event related to it, whether anything changed,
    and the references the event's snapshot contradicted: name → (row's, event's)."""

    row: Row
    ordering: Ordering
    changed: bool
    contradictions: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _wins(name: str, value: Any, clock: FieldClock, row: Row,
          rank: Callable[[Any], int]) -> bool:
    if name == "status":
        new_rank, old_rank = rank(value), rank(row.values.get("status"))
        if new_rank != old_rank:
            return new_rank > old_rank
    current = row.field_clocks.get(name)
    return current is None or clock > current


def merge_event(row: Row, event: AnyEvent, writes: Mapping[str, Any],
                rank: Callable[[Any], int], claims: Mapping[str, Any] | None = None
                ) -> MergeResult:
    """Merge *event*, which sets the fields *writes* and claims the references *claims*,
    into *row* (rules above)."""
    clock = clock_of(event)
    refs = dict(row.refs)
    values = dict(row.values)
    clocks = dict(row.field_clocks)
    contradictions: dict[str, tuple[Any, Any]] = {}
    if claims:
        claimed = row.field_clocks.get(REFS)
        if claimed is not None:
            contradictions = {k: (row.refs.get(k), v) for k, v in claims.items()
                              if k not in _NOT_CONTRADICTED and row.refs.get(k) != v}
        if claimed is None or clock < claimed:
            refs.update(claims)
            clocks[REFS] = clock
    remote = VectorClock.from_mapping(event.vector_clock)
    ordering = remote.compare(row.vector_clock)
    for name, value in writes.items():
        if _wins(name, value, clock, row, rank):
            values[name] = value
            clocks[name] = clock
    newest = clocks.get(NEWEST)
    is_newest = newest is None or clock > newest
    if is_newest:
        clocks[NEWEST] = clock
    merged = replace(
        row, refs=refs, values=values, field_clocks=clocks,
        updated_at=event.occurred_at if is_newest else row.updated_at,
        vector_clock=row.vector_clock.merge(remote).truncated(),  # the stored bound
        hlc=max(row.hlc, (event.hlc.physical_us, event.hlc.logical)),
        origin_node=event.origin_node if is_newest else row.origin_node,
        last_event_id=event.event_id if is_newest else row.last_event_id)
    return MergeResult(merged, ordering, values != row.values or refs != row.refs,
                       contradictions)


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
