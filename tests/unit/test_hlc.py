"""Hybrid logical clock: strict monotonicity, the receive rule, drift rejection and resuming."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.contracts.errors import ContractError
from streams.contracts.hlc import (
    ClockDriftError,
    HybridClock,
    InvalidTimestampError,
    Timestamp,
)

DRIFT = 60_000_000


class FakeNow:
    """A scripted wall clock: returns the given readings in order, then repeats the last."""

    def __init__(self, readings: Iterable[int]) -> None:
        self._readings: Iterator[int] = iter(readings)
        self.value = 0
        self.seen: list[int] = []

    def __call__(self) -> int:
        self.value = next(self._readings, self.value)
        self.seen.append(self.value)
        return self.value


def _key(ts: Timestamp) -> tuple[int, int]:
    return (ts.physical, ts.logical)


def _assert_strictly_increasing(stamps: list[Timestamp]) -> None:
    for before, after in pairwise(stamps):
        assert before < after
        assert _key(before) < _key(after)


def test_first_send_uses_now() -> None:
    clock = HybridClock("n1", now=FakeNow([1_000]))
    assert clock.last is None
    ts = clock.send()
    assert ts == Timestamp(1_000, 0, "n1")
    assert clock.last == ts


@pytest.mark.parametrize(
    "readings",
    [
        [100, 100, 100, 100],  # constant
        [500, 400, 300, 200, 100, 0],  # backwards
        [100, 10_000_000, 10_000_001, 5],  # jumps ahead, then back
    ],
)
def test_send_is_strictly_increasing(readings: list[int]) -> None:
    now = FakeNow(readings)
    clock = HybridClock("n1", now=now)
    stamps = [clock.send() for _ in readings]
    _assert_strictly_increasing(stamps)
    assert all(s.physical >= max(now.seen[: i + 1]) for i, s in enumerate(stamps))


def test_send_with_constant_now_bumps_logical() -> None:
    clock = HybridClock("n1", now=FakeNow([100]))
    assert [(s.physical, s.logical) for s in (clock.send() for _ in range(3))] == [
        (100, 0),
        (100, 1),
        (100, 2),
    ]


def test_send_resets_logical_when_physical_advances() -> None:
    clock = HybridClock("n1", now=FakeNow([100, 100, 200]))
    clock.send()
    clock.send()
    assert _key(clock.send()) == (200, 0)


def test_receive_ahead_within_drift_adopts_remote_physical() -> None:
    clock = HybridClock("n1", now=FakeNow([1_000]))
    remote = Timestamp(1_000 + DRIFT, 7, "n2")
    ts = clock.receive(remote)
    assert _key(ts) == (1_000 + DRIFT, 8)
    assert ts.node == "n1"
    assert ts > remote
    # Local time has not caught up, so subsequent sends keep the adopted physical time.
    assert _key(clock.send()) == (1_000 + DRIFT, 9)


def test_receive_beyond_drift_raises_and_leaves_clock_unchanged() -> None:
    clock = HybridClock("n1", now=FakeNow([1_000]), max_drift_us=DRIFT)
    before = clock.send()
    with pytest.raises(ClockDriftError) as info:
        clock.receive(Timestamp(1_000 + DRIFT + 1_500_000, 0, "n2"))
    assert isinstance(info.value, ContractError)
    assert str(info.value) == "remote timestamp is 61.500000 s ahead of the local clock"
    assert clock.last == before


def test_drift_message_states_seconds_only() -> None:
    clock = HybridClock("n1", now=FakeNow([0]), max_drift_us=1_000_000)
    with pytest.raises(ClockDriftError) as info:
        clock.receive(Timestamp(2_500_000, 3, "secret-node"))
    message = str(info.value)
    assert "2.5" in message
    assert " s " in message
    assert "secret-node" not in message


def test_receive_rule_cases() -> None:
    # Remote behind local time: now() wins, logical resets.
    clock = HybridClock("n1", now=FakeNow([500]))
    assert _key(clock.receive(Timestamp(100, 9, "n2"))) == (500, 0)
    # last, remote and now all share the physical time: max(logical) + 1.
    clock = HybridClock("n1", now=FakeNow([500]), last=Timestamp(500, 3, "n1"))
    assert _key(clock.receive(Timestamp(500, 5, "n2"))) == (500, 6)
    clock = HybridClock("n1", now=FakeNow([500]), last=Timestamp(500, 8, "n1"))
    assert _key(clock.receive(Timestamp(500, 5, "n2"))) == (500, 9)
    # last is ahead of both: last.logical + 1.
    clock = HybridClock("n1", now=FakeNow([100]), last=Timestamp(900, 4, "n1"))
    assert _key(clock.receive(Timestamp(500, 50, "n2"))) == (900, 5)
    # remote is ahead of last and now: remote.logical + 1.
    clock = HybridClock("n1", now=FakeNow([100]), last=Timestamp(200, 4, "n1"))
    assert _key(clock.receive(Timestamp(300, 50, "n2"))) == (300, 51)


@pytest.mark.parametrize("readings", [[100] * 6, [600, 500, 400, 300, 200, 100], [1, 10**9, 2]])
def test_mixed_send_receive_is_strictly_increasing(readings: list[int]) -> None:
    clock = HybridClock("n1", now=FakeNow(readings))
    stamps = [
        clock.send(),
        clock.receive(Timestamp(50, 3, "n2")),
        clock.send(),
        clock.receive(Timestamp(readings[0] + 10, 0, "n3")),
        clock.receive(Timestamp(readings[0] + 10, 0, "n3")),
        clock.send(),
    ]
    _assert_strictly_increasing(stamps)


@pytest.mark.parametrize("reading", [0, 999, 1_000, 2_000])
def test_resume_continues_strictly_above_last(reading: int) -> None:
    last = Timestamp(1_000, 5, "n1")
    clock = HybridClock("n1", now=FakeNow([reading]), last=last)
    assert clock.last == last
    ts = clock.send()
    assert ts > last
    assert _key(ts) > _key(last)
    clock = HybridClock("n1", now=FakeNow([reading]), last=last)
    ts = clock.receive(Timestamp(0, 0, "n2"))
    assert _key(ts) > _key(last)


def test_resume_from_other_node_name_still_increases() -> None:
    last = Timestamp(1_000, 5, "zzz")
    ts = HybridClock("aaa", now=FakeNow([1_000]), last=last).send()
    assert _key(ts) > _key(last)
    assert ts > last


def test_timestamp_total_order() -> None:
    assert Timestamp(1, 9, "z") < Timestamp(2, 0, "a")
    assert Timestamp(1, 1, "z") < Timestamp(1, 2, "a")
    assert Timestamp(1, 1, "a") < Timestamp(1, 1, "b")
    assert Timestamp(1, 1, "a") == Timestamp(1, 1, "a")


@pytest.mark.parametrize(
    ("physical", "logical", "node"),
    [(-1, 0, "n"), (0, -1, "n"), (0, 0, ""), (True, 0, "n"), (0, False, "n"), (1.5, 0, "n")],
)
def test_invalid_timestamps_are_rejected(physical: object, logical: object, node: object) -> None:
    with pytest.raises(InvalidTimestampError):
        Timestamp(physical, logical, node)  # type: ignore[arg-type]


def test_invalid_clock_options_are_rejected() -> None:
    with pytest.raises(ValueError):
        HybridClock("")
    with pytest.raises(ValueError):
        HybridClock("n1", max_drift_us=-1)
    with pytest.raises(ValueError):
        HybridClock("n1", now=lambda: -5).send()


def test_default_now_is_wall_clock_microseconds() -> None:
    ts = HybridClock("n1").send()
    assert ts.physical > 1_600_000_000 * 1_000_000  # after 2020, in microseconds
    assert ts.physical < 10_000_000_000 * 1_000_000


NOW = st.integers(min_value=0, max_value=10**12)
Op = tuple[str, int, int, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(["send", "receive"]),
        NOW,  # now() reading for this step
        st.integers(min_value=-2 * DRIFT, max_value=2 * DRIFT),  # remote offset from now
        st.integers(min_value=0, max_value=5),  # remote logical
    ),
    min_size=1,
    max_size=40,
)


@given(ops, st.one_of(st.none(), st.builds(Timestamp, NOW, st.integers(0, 5), st.just("n1"))))
def test_outputs_strictly_monotone_and_above_every_now(
    steps: list[Op], last: Timestamp | None
) -> None:
    now = FakeNow(step[1] for step in steps)
    clock = HybridClock("n1", now=now, max_drift_us=DRIFT, last=last)
    stamps: list[Timestamp] = [] if last is None else [last]
    # now() readings of the operations that issued a timestamp; a rejected receive has no effect.
    readings: list[int] = []
    for kind, reading, offset, remote_logical in steps:
        if kind == "send":
            ts = clock.send()
        else:
            remote = Timestamp(max(0, reading + offset), remote_logical, "n2")
            if offset > DRIFT:
                with pytest.raises(ClockDriftError):
                    clock.receive(remote)
                assert clock.last == (stamps[-1] if stamps else None)
                continue
            ts = clock.receive(remote)
            assert _key(ts) > _key(remote)
        assert now.seen[-1] == reading
        readings.append(reading)
        assert ts.node == "n1"
        assert ts.physical >= max(readings)
        if stamps:
            assert _key(ts) > _key(stamps[-1])
        assert clock.last == ts
        stamps.append(ts)
    _assert_strictly_increasing(stamps)
