"""The merge rule on the README's worked example, in every order, and its laws."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contracts.clocks import Ordering
from streams.contracts.models import (
    HybridTimestamp,
    TaskCompleted,
    TaskCreated,
    TaskEvent,
    TaskPayload,
    TaskStatusChanged,
    TaskUpdated,
)
from streams.sink.aggregates import TASKS
from streams.sink.merge import merge_event
from tests.unit.events_fixtures import NURSE, TASK

TASK_ID = uuid.UUID(int=99, version=4)
T = datetime(2026, 11, 28, 10, tzinfo=UTC)


def _event(n: int, seconds: int, node: str, clock: dict[str, int],
           payload: TaskPayload) -> TaskEvent:
    return TaskEvent(
        event_id=uuid.UUID(int=1000 + n, version=4), aggregate_id=TASK_ID, occurred_at=T,
        hlc=HybridTimestamp(physical_us=int(T.timestamp() * 1e6) + seconds * 1_000_000,
                            logical=0, node=node),
        vector_clock=clock, origin_node=node, source_system="DEVICE", actor=NURSE,
        correlation_id=uuid.UUID(int=1, version=4), task=TASK, payload=payload)


CREATED = _event(0, 0, "epic", {"epic": 1}, TaskCreated(status="PENDING"))
A_HIGH = _event(1, 5, "A", {"epic": 1, "A": 1}, TaskUpdated(priority="HIGH"))
B_STARTS = _event(2, 3, "B", {"epic": 1, "B": 1}, TaskStatusChanged(status="IN_PROGRESS"))
B_LOW = _event(3, 3, "B", {"epic": 1, "B": 2}, TaskUpdated(priority="LOW"))
A_DONE = _event(4, 1, "A", {"epic": 1, "A": 1}, TaskCompleted(completed_at=T))


def _fold(events: list[TaskEvent]):
    row = TASKS.placeholder(events[0])
    orderings = []
    for event in events:
        result = merge_event(row, event, TASKS.writes(event), TASKS.rank)
        row = result.row
        orderings.append(result.ordering)
    return row, orderings


def test_worked_example_in_every_order() -> None:
    results = set()
    for order in itertools.permutations([CREATED, A_HIGH, B_STARTS, B_LOW]):
        row, orderings = _fold(list(order))
        results.add((row.values["priority"], row.values["status"],
                     tuple(sorted(row.vector_clock.as_dict().items()))))
        if list(order[:2]) == [CREATED, A_HIGH]:
            assert orderings[2] is Ordering.CONCURRENT
    assert results == {("HIGH", "IN_PROGRESS", (("A", 1), ("B", 2), ("epic", 1)))}


def test_a_completed_task_does_not_reopen() -> None:
    for order in itertools.permutations([CREATED, A_DONE, B_STARTS]):
        row, _ = _fold(list(order))
        assert row.values["status"] == "COMPLETED"
        assert row.values["completed_at"] == T


@settings(max_examples=200, deadline=None)
@given(st.permutations([CREATED, A_HIGH, B_STARTS, B_LOW, A_DONE]),
       st.lists(st.integers(min_value=0, max_value=4), max_size=4))
def test_any_order_with_duplicates_converges(order: list[TaskEvent], dups: list[int]) -> None:
    reference, _ = _fold([CREATED, A_HIGH, B_STARTS, B_LOW, A_DONE])
    events = list(order) + [order[i] for i in dups]
    row, _ = _fold(events)
    assert row.values == reference.values
    assert row.vector_clock == reference.vector_clock
    assert row.field_clocks == reference.field_clocks
    assert row.last_event_id == reference.last_event_id
