"""A node's clocks, kept across restarts: its vector-clock counter and its HLC."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from streams.contracts.clocks import VectorClock
from streams.contracts.hlc import HybridClock, Timestamp
from streams.contracts.models import HybridTimestamp

__all__ = ["ClockKeeper"]


class ClockKeeper:
    """Stamps a node's events with a hybrid logical clock and a vector clock.

    The node's own vector-clock entry is one counter for all aggregates (it only has to
    grow along the node's history), so the state is two numbers whatever the number of
    aggregates. With *state_file*, the state is written (and fsynced) before each stamp is
    returned, so a restarted node never re-issues a counter or an HLC reading. Not
    thread-safe: one keeper per producing thread.
    """

    def __init__(self, node: str, *, state_file: Path | None = None,
                 now_us: Callable[[], int] | None = None) -> None:
        self.node = node
        self._state_file = state_file
        counter, last = 0, None
        if state_file is not None and state_file.exists():
            state = json.loads(state_file.read_text())
            if state.get("node") != node:
                raise ValueError(f"{state_file} holds the clock of another node")
            counter = int(state["counter"])
            last = Timestamp(int(state["hlc"][0]), int(state["hlc"][1]), node)
        self._counter = counter
        self._hlc = (HybridClock(node, last=last) if now_us is None
                     else HybridClock(node, last=last, now=now_us))

    def stamp(self, *, seen: Mapping[str, int] | None = None
              ) -> tuple[HybridTimestamp, dict[str, int]]:
        """The clocks of a new local change, after the state *seen* (the aggregate's clock)."""
        self._counter += 1
        base = VectorClock.from_mapping(seen or {})
        clock = base.merge(VectorClock.from_mapping({self.node: self._counter}))
        now = self._hlc.send()
        self._save(now)
        return (HybridTimestamp(physical_us=now.physical, logical=now.logical, node=self.node),
                clock.as_dict())

    def observe(self, remote: HybridTimestamp) -> None:
        """Advance the HLC past a timestamp received from another node."""
        now = self._hlc.receive(Timestamp(remote.physical_us, remote.logical, remote.node))
        self._save(now)

    def _save(self, now: Timestamp) -> None:
        if self._state_file is None:
            return
        payload = json.dumps({"node": self.node, "counter": self._counter,
                              "hlc": [now.physical, now.logical]})
        directory = self._state_file.parent
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".clock-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._state_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
