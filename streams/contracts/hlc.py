"""Hybrid logical clock (Kulkarni et al., 2014) with microsecond physical time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from streams import clock
from streams.contracts.errors import ContractError

__all__ = [
    "DEFAULT_MAX_DRIFT_US",
    "ClockDriftError",
    "HybridClock",
    "InvalidTimestampError",
    "Timestamp",
]

DEFAULT_MAX_DRIFT_US = 60_000_000
"""Default bound (one minute) on how far a received timestamp may be ahead of local time."""


class InvalidTimestampError(ContractError):
    """A hybrid timestamp is malformed; the message names the rule, never the value."""


class ClockDriftError(ContractError):
    """A received timestamp is further ahead of the local physical clock than allowed."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, order=True, slots=True)
class Timestamp:
    """A hybrid logical timestamp, totally ordered by ``(physical, logical, node)``.

    ``physical`` is microseconds since the Unix epoch (``>= 0``), ``logical`` a counter
    (``>= 0``) that orders events sharing a physical time, ``node`` the non-empty id of the
    clock that issued it (the final tie-breaker). Invalid fields raise
    :class:`InvalidTimestampError`.
    """

    physical: int
    logical: int
    node: str

    def __post_init__(self) -> None:
        if not _is_int(self.physical) or self.physical < 0:
            raise InvalidTimestampError("timestamp physical time must be an integer >= 0")
        if not _is_int(self.logical) or self.logical < 0:
            raise InvalidTimestampError("timestamp logical counter must be an integer >= 0")
        if not isinstance(self.node, str) or not self.node:
            raise InvalidTimestampError("timestamp node id must be a non-empty string")


class HybridClock:
    """A hybrid logical clock for one node.

    Every timestamp it returns is strictly greater than the previous one it returned
    (in ``(physical, logical)``, hence in :class:`Timestamp` order), even if ``now()`` stays
    constant or goes backwards, and its ``physical`` is >= the ``now()`` reading of every
    operation that issued a timestamp so far (a rejected :meth:`receive` has no effect).

    ``now`` returns the wall clock in microseconds since the epoch (default:
    :func:`streams.clock.now_us`, the project's clock); a reading that is not an
    ``int >= 0`` raises ``ValueError``. ``last`` resumes the clock after a restart: later
    timestamps are strictly greater than it. ``max_drift_us`` bounds how far ahead of
    ``now()`` a received timestamp may be (see :meth:`receive`).

    Not thread-safe: it holds mutable state without locking; use one clock per thread or
    serialize calls externally.
    """

    __slots__ = ("_last", "_max_drift_us", "_node", "_now")

    def __init__(
        self,
        node: str,
        *,
        now: Callable[[], int] = clock.now_us,
        max_drift_us: int = DEFAULT_MAX_DRIFT_US,
        last: Timestamp | None = None,
    ) -> None:
        if not isinstance(node, str) or not node:
            raise ValueError("node must be a non-empty string")
        if not _is_int(max_drift_us) or max_drift_us < 0:
            raise ValueError("max_drift_us must be an integer >= 0")
        if last is not None and not isinstance(last, Timestamp):
            raise TypeError("last must be a Timestamp or None")
        self._node = node
        self._now = now
        self._max_drift_us = max_drift_us
        self._last = last

    @property
    def node(self) -> str:
        """The id of this clock's node, stamped on every timestamp it issues."""
        return self._node

    @property
    def last(self) -> Timestamp | None:
        """The most recent timestamp issued (or the ``last=`` it resumed from); ``None`` if none."""
        return self._last

    def _read_now(self) -> int:
        value = self._now()
        if not _is_int(value) or value < 0:
            raise ValueError("now() must return an integer number of microseconds >= 0")
        return value

    def send(self) -> Timestamp:
        """Timestamp a local or send event.

        ``physical = max(last.physical, now())``; ``logical = last.logical + 1`` if the physical
        time did not advance past ``last.physical``, else ``0``.
        """
        pt = self._read_now()
        last = self._last
        if last is None or pt > last.physical:
            stamp = Timestamp(pt, 0, self._node)
        else:
            stamp = Timestamp(last.physical, last.logical + 1, self._node)
        self._last = stamp
        return stamp

    def receive(self, remote: Timestamp) -> Timestamp:
        """Timestamp the receipt of a message stamped ``remote``; the result is above both.

        ``physical = max(last.physical, remote.physical, now())``; ``logical`` is one more than
        the largest logical counter among ``last`` and ``remote`` whose physical time equals the
        new physical time, or ``0`` if ``now()`` alone is the maximum.

        Raises :class:`ClockDriftError` (and leaves the clock unchanged) if ``remote.physical``
        is more than ``max_drift_us`` ahead of ``now()``.
        """
        if not isinstance(remote, Timestamp):
            raise InvalidTimestampError("remote must be a Timestamp")
        pt = self._read_now()
        drift = remote.physical - pt
        if drift > self._max_drift_us:
            raise ClockDriftError(
                f"remote timestamp is {drift / 1_000_000:.6f} s ahead of the local clock"
            )
        last = self._last
        last_physical = -1 if last is None else last.physical
        physical = max(last_physical, remote.physical, pt)
        logical = -1
        if last is not None and last.physical == physical:
            logical = last.logical
        if remote.physical == physical:
            logical = max(logical, remote.logical)
        stamp = Timestamp(physical, logical + 1, self._node)
        self._last = stamp
        return stamp
