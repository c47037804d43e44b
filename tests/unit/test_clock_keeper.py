"""ClockKeeper: a node's clocks survive a restart and only move forward."""

from __future__ import annotations

from pathlib import Path

from streams.contracts.clocks import Ordering, VectorClock
from streams.sdk import ClockKeeper


def test_restart_continues_above_the_saved_state(tmp_path: Path) -> None:
    state = tmp_path / "clock.json"
    first = ClockKeeper("tablet-1", state_file=state, now_us=lambda: 5_000)
    stamps = [first.stamp() for _ in range(3)]
    # The wall clock went backwards across the restart: the keeper does not.
    again = ClockKeeper("tablet-1", state_file=state, now_us=lambda: 1_000)
    hlc, clock = again.stamp()
    last_hlc, last_clock = stamps[-1]
    assert (hlc.physical_us, hlc.logical) > (last_hlc.physical_us, last_hlc.logical)
    assert clock["tablet-1"] == last_clock["tablet-1"] + 1


def test_stamps_build_on_the_clock_seen() -> None:
    keeper = ClockKeeper("tablet-2", now_us=lambda: 10)
    seen = {"epic": 7, "tablet-1": 2}
    _, clock = keeper.stamp(seen=seen)
    ordering = VectorClock.from_mapping(clock).compare(VectorClock.from_mapping(seen))
    assert ordering is Ordering.AFTER
    assert clock == {"epic": 7, "tablet-1": 2, "tablet-2": 1}


def test_a_state_file_of_another_node_is_refused(tmp_path: Path) -> None:
    import pytest

    state = tmp_path / "clock.json"
    ClockKeeper("a", state_file=state).stamp()
    with pytest.raises(ValueError, match="another node"):
        ClockKeeper("b", state_file=state)
