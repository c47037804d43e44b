"""Vector clocks: immutable node-id to counter maps with merge and happened-before comparison."""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter

from streams.contracts.errors import ContractError

__all__ = ["DEFAULT_MAX_ENTRIES", "InvalidClockError", "Ordering", "VectorClock"]

DEFAULT_MAX_ENTRIES = 1024
"""Default bound on the number of entries :meth:`VectorClock.from_mapping` accepts."""

_node_of = itemgetter(0)


class InvalidClockError(ContractError):
    """A vector clock is malformed: bad node id, bad counter, or too many entries.

    The message names the rule that was broken, never the offending node id or counter.
    """


class Ordering(enum.Enum):
    """How two vector clocks relate under the happened-before partial order."""

    BEFORE = "before"
    """``self`` happened before ``other``: every counter <=, and the clocks differ."""
    AFTER = "after"
    """``other`` happened before ``self``."""
    EQUAL = "equal"
    """The clocks are equal (same non-zero entries)."""
    CONCURRENT = "concurrent"
    """Neither happened before the other: each has some counter greater than the other's."""


def _check_entry(node: object, counter: object) -> None:
    if not isinstance(node, str) or not node:
        raise InvalidClockError("vector clock node id must be a non-empty string")
    if isinstance(counter, bool) or not isinstance(counter, int):
        raise InvalidClockError("vector clock counter must be an integer (not a bool)")
    if counter < 0:
        raise InvalidClockError("vector clock counter must not be negative")


def _normalize(pairs: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """Validate the pairs, drop zero counters and sort by node id; reject duplicate node ids."""
    seen: set[str] = set()
    kept: list[tuple[str, int]] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidClockError("vector clock entries must be (node id, counter) pairs")
        node, counter = pair
        _check_entry(node, counter)
        if node in seen:
            raise InvalidClockError("vector clock node ids must be unique")
        seen.add(node)
        if counter:
            kept.append((node, counter))
    kept.sort(key=_node_of)
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class VectorClock:
    """An immutable vector clock: a map from node id (non-empty ``str``) to counter (``int >= 0``).

    A zero counter is the same as an absent node, so zero entries are dropped and ``entries``
    holds the non-zero counters sorted by node id. Two clocks that differ only in zero
    entries therefore compare equal and hash equal. ``VectorClock()`` is the zero clock.

    Construct from untrusted input with :meth:`from_mapping`, which also bounds the size.
    Direct construction validates and normalizes ``entries`` as well, but applies no bound.
    All operations return new clocks; none mutates. Invalid input raises
    :class:`InvalidClockError`.
    """

    entries: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.entries, tuple):
            raise InvalidClockError("vector clock entries must be a tuple of pairs")
        object.__setattr__(self, "entries", _normalize(self.entries))

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, int], *, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> VectorClock:
        """Build a clock from ``mapping`` after validating it.

        Raises :class:`InvalidClockError` if a node id is not a non-empty ``str``, if a counter
        is not an ``int`` (``bool`` is rejected) or is negative, or if ``mapping`` has more than
        ``max_entries`` entries. The bound is checked first and counts zero entries too, so the
        work done on hostile input is bounded. ``max_entries`` must be a non-negative ``int``
        (``ValueError`` otherwise: that is a programming error, not bad input).
        """
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 0:
            raise ValueError("max_entries must be a non-negative integer")
        if not isinstance(mapping, Mapping):
            raise InvalidClockError("vector clock must be a mapping")
        if len(mapping) > max_entries:
            raise InvalidClockError("vector clock has too many entries")
        return cls(tuple(mapping.items()))

    def as_dict(self) -> dict[str, int]:
        """Return the non-zero counters as a new ``dict`` (zero counters are absent)."""
        return dict(self.entries)

    def get(self, node: str) -> int:
        """Return the counter of ``node``; ``0`` if the node is absent."""
        i = bisect_left(self.entries, node, key=_node_of)
        if i < len(self.entries) and self.entries[i][0] == node:
            return self.entries[i][1]
        return 0

    def increment(self, node: str) -> VectorClock:
        """Return a copy with the counter of ``node`` raised by one (a local event at ``node``).

        The result compares :attr:`Ordering.AFTER` this clock.
        """
        _check_entry(node, 0)
        counters = self.as_dict()
        counters[node] = counters.get(node, 0) + 1
        return VectorClock(tuple(counters.items()))

    def merge(self, other: VectorClock) -> VectorClock:
        """Return the element-wise maximum (least upper bound) of the two clocks.

        Commutative, associative and idempotent; both inputs compare BEFORE or EQUAL to it.
        """
        counters = self.as_dict()
        for node, counter in other.entries:
            if counter > counters.get(node, 0):
                counters[node] = counter
        return VectorClock(tuple(counters.items()))

    def truncated(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> VectorClock:
        """Keep the *max_entries* entries with the greatest ``(counter, node)``.

        The stored clock's bound. The rule commutes with :meth:`merge`: truncating after
        every merge gives the truncation of the merge of all clocks, in any order (a node
        dropped once is outranked by *max_entries* others whose counters only grow, so it
        can come back only with a counter that ranks it in again). Comparisons against a
        truncated clock can call an event concurrent that was not: a conflict row for
        review, never a lost write (fields merge by HLC, not by this clock).
        """
        if len(self.entries) <= max_entries:
            return self
        kept = sorted(self.entries, key=lambda e: (e[1], e[0]), reverse=True)[:max_entries]
        return VectorClock(tuple(sorted(kept)))

    def compare(self, other: VectorClock) -> Ordering:
        """Return how ``self`` relates to ``other`` under happened-before.

        ``BEFORE``: every counter of ``self`` is <= the one in ``other`` and the clocks differ.
        ``AFTER``: the reverse. ``EQUAL``: same counters. ``CONCURRENT``: otherwise.
        """
        mine = self.as_dict()
        theirs = other.as_dict()
        less = greater = False
        for node in mine.keys() | theirs.keys():
            a = mine.get(node, 0)
            b = theirs.get(node, 0)
            if a < b:
                less = True
            elif a > b:
                greater = True
            if less and greater:
                return Ordering.CONCURRENT
        if less:
            return Ordering.BEFORE
        if greater:
            return Ordering.AFTER
        return Ordering.EQUAL
