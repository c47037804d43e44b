"""Apply a batch of task events to PostgreSQL in one transaction, idempotently.

Rules (walking skeleton; issue #5 brings vector clocks and merges):

* an ``event_id`` already in ``processed_events`` is a duplicate: nothing changes;
* per task, the event with the greatest ``(occurred_at, event_id)`` wins (last writer
  wins on a total order), so any permutation of the same events gives the same row;
* undecodable records are returned as poison for the caller to dead-letter; they never
  stop the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from streams.contracts import DecodeError, TaskEvent, decode_task_event
from streams.sink.records import ConsumedRecord, Poison

__all__ = ["BatchOutcome", "apply_batch"]

logger = logging.getLogger(__name__)

_LEDGER = """
INSERT INTO processed_events (event_id, event_type, topic, "partition", "offset")
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::int[], %s::bigint[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

_UPSERT = """
INSERT INTO tasks AS t (id, title, status, priority, department_code, source_system,
                        last_event_id, last_occurred_at)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                     %s::uuid[], %s::timestamptz[])
ON CONFLICT (id) DO UPDATE SET
    title = excluded.title, status = excluded.status, priority = excluded.priority,
    department_code = excluded.department_code, source_system = excluded.source_system,
    last_event_id = excluded.last_event_id, last_occurred_at = excluded.last_occurred_at,
    updated_at = now()
WHERE (excluded.last_occurred_at, excluded.last_event_id)
    > (t.last_occurred_at, t.last_event_id)
"""


@dataclass
class BatchOutcome:
    """What one batch did: the counts add up to the number of records given."""

    applied: int = 0
    duplicates: int = 0
    poison: list[Poison] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.applied + self.duplicates + len(self.poison)


def _order_key(event: TaskEvent) -> tuple[object, ...]:
    return (event.occurred_at, event.event_id)


def apply_batch(conn: psycopg.Connection[tuple[object, ...]],
                records: Sequence[ConsumedRecord]) -> BatchOutcome:
    """Apply *records* in one transaction on *conn*; return what happened to each.

    Called by the faust agents, the replay command and the tests. Raises psycopg errors
    unchanged when the database fails: the caller retries the whole batch (nothing was
    committed) and must not acknowledge any record of it.
    """
    outcome = BatchOutcome()
    decoded: list[tuple[ConsumedRecord, TaskEvent]] = []
    for record in records:
        try:
            decoded.append((record, decode_task_event(record.value)))
        except DecodeError as exc:
            outcome.poison.append(Poison(record, str(exc), type(exc).__name__, "decode"))
    # The same event twice in one batch (a producer retry) counts as a duplicate.
    unique: dict[object, tuple[ConsumedRecord, TaskEvent]] = {}
    for record, event in decoded:
        unique.setdefault(event.event_id, (record, event))
    outcome.duplicates += len(decoded) - len(unique)
    with conn.transaction():
        if unique:
            rows = list(unique.values())
            fresh_ids = {row[0] for row in conn.execute(_LEDGER, (
                [e.event_id for _, e in rows], [e.event_type for _, e in rows],
                [r.topic for r, _ in rows], [r.partition for r, _ in rows],
                [r.offset for r, _ in rows])).fetchall()}
            fresh = [e for _, e in rows if e.event_id in fresh_ids]
            outcome.duplicates += len(rows) - len(fresh)
            outcome.applied += len(fresh)
            winners: dict[object, TaskEvent] = {}
            for event in fresh:
                current = winners.get(event.task_id)
                if current is None or _order_key(event) > _order_key(current):
                    winners[event.task_id] = event
            if winners:
                w = list(winners.values())
                conn.execute(_UPSERT, (
                    [e.task_id for e in w], [e.title for e in w], [e.status for e in w],
                    [e.priority for e in w], [e.department_code for e in w],
                    [e.source_system for e in w], [e.event_id for e in w],
                    [e.occurred_at for e in w]))
    return outcome
