"""The skeleton task event: round trip, and errors that name no input value."""

from __future__ import annotations

import pytest

from streams.adapters.synthetic import SyntheticTaskSource
from streams.contracts import DecodeError, decode_task_event, encode_task_event


def test_round_trip() -> None:
    for event in SyntheticTaskSource(seed=1).events(50):
        assert decode_task_event(encode_task_event(event)) == event


@pytest.mark.parametrize("value", [None, b"", b"\xff\xfe", b"[]", b'{"event_id": 1}',
                                   b'{"title": "Jane Doe 1970-01-01"}'])
def test_bad_bytes_raise_decode_error(value: bytes | None) -> None:
    with pytest.raises(DecodeError):
        decode_task_event(value)


def test_reason_does_not_echo_the_input() -> None:
    event = next(SyntheticTaskSource(seed=2).events(1))
    bad = encode_task_event(event).replace(b'"status":"PENDING"', b'"status":"Jane Doe MRN 123"')
    with pytest.raises(DecodeError) as info:
        decode_task_event(bad)
    assert "Jane" not in str(info.value)
    assert "status" in str(info.value)


def test_synthetic_source_is_reproducible_and_moves_tasks_forward() -> None:
    a = list(SyntheticTaskSource(seed=5).events(500))
    b = list(SyntheticTaskSource(seed=5).events(500))
    assert [e.event_id for e in a] == [e.event_id for e in b]
    order = {"PENDING": 0, "IN_PROGRESS": 1, "COMPLETED": 2}
    last: dict = {}
    for e in a:
        assert order[e.status] >= order.get(last.get(e.task_id, "PENDING"), 0)
        last[e.task_id] = e.status
    assert {e.event_type for e in a} == {"task.created", "task.status_changed"}
