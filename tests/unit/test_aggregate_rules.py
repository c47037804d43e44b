"""Handover and verification merge rules, in every order of their events (docs/merge.md)."""

from __future__ import annotations

import itertools

from streams.contracts.models import AnyEvent
from streams.sink.aggregates import HANDOVERS, VERIFICATIONS, AggregateSpec
from streams.sink.merge import Row, merge_event
from tests.unit.events_fixtures import every_event

INITIATED, ACCEPTED, REJECTED, COMPLETED = every_event()[6:10]
REQUESTED, VERIFIED, FAILED = every_event()[10:13]


def _fold(spec: AggregateSpec, events: tuple[AnyEvent, ...]) -> Row:
    row = spec.placeholder(events[0])
    for event in events:
        row = merge_event(row, event, spec.writes(event), spec.rank, spec.claims(event)).row
    return row


def _every_order(spec: AggregateSpec, events: list[AnyEvent]) -> Row:
    rows = [_fold(spec, order) for order in itertools.permutations(events)]
    assert all(row == rows[0] for row in rows), "the result depends on the order"
    return rows[0]


def test_a_rejection_outranks_acceptance_and_completion() -> None:
    row = _every_order(HANDOVERS, [INITIATED, ACCEPTED, REJECTED, COMPLETED])
    assert row.values["status"] == "REJECTED"
    # The facts of the other events stay: who accepted, when it was completed.
    assert row.values["accepted_by"] == ACCEPTED.payload.accepted_by.id  # type: ignore[union-attr]
    assert row.values["completed_at"] == COMPLETED.payload.completed_at  # type: ignore[union-attr]


def test_completion_outranks_acceptance() -> None:
    row = _every_order(HANDOVERS, [INITIATED, ACCEPTED, COMPLETED])
    assert row.values["status"] == "COMPLETED"
    assert row.values["task_ids"] == [t.task_id for t in INITIATED.payload.tasks]  # type: ignore[union-attr]
    row = _every_order(HANDOVERS, [ACCEPTED, INITIATED])
    assert row.values["status"] == "ACCEPTED"


def test_a_failed_check_outranks_a_verification() -> None:
    row = _every_order(VERIFICATIONS, [REQUESTED, VERIFIED, FAILED])
    assert row.values["status"] == "FAILED"
    assert row.values["failure_reason"] == FAILED.payload.failure_reason  # type: ignore[union-attr]
    row = _every_order(VERIFICATIONS, [REQUESTED, VERIFIED])
    assert row.values["status"] == "VERIFIED"
    row = _every_order(VERIFICATIONS, [REQUESTED])
    assert row.values["status"] == "PENDING"


def test_created_at_is_the_earliest_event_and_updated_at_the_latest() -> None:
    early = INITIATED.model_copy(update={"hlc": INITIATED.hlc.model_copy(
        update={"physical_us": INITIATED.hlc.physical_us - 10}),
        "occurred_at": INITIATED.occurred_at.replace(hour=1)})
    late = COMPLETED.model_copy(update={"hlc": COMPLETED.hlc.model_copy(
        update={"physical_us": COMPLETED.hlc.physical_us + 10}),
        "occurred_at": COMPLETED.occurred_at.replace(hour=23)})
    row = _every_order(HANDOVERS, [early, ACCEPTED, late])
    assert row.refs["created_at"] == early.occurred_at
    assert row.updated_at == late.occurred_at
