"""Vector clocks: lattice laws, happened-before comparison, normalization and validation."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.contracts.clocks import InvalidClockError, Ordering, VectorClock
from streams.contracts.errors import ContractError

NODES = st.sampled_from(["a", "b", "c", "d"])
COUNTERS = st.integers(min_value=0, max_value=4)
clocks = st.dictionaries(NODES, COUNTERS, max_size=4).map(VectorClock.from_mapping)

_REVERSE = {
    Ordering.BEFORE: Ordering.AFTER,
    Ordering.AFTER: Ordering.BEFORE,
    Ordering.EQUAL: Ordering.EQUAL,
    Ordering.CONCURRENT: Ordering.CONCURRENT,
}


@given(clocks, clocks)
def test_merge_is_commutative(a: VectorClock, b: VectorClock) -> None:
    assert a.merge(b) == b.merge(a)


@given(clocks, clocks, clocks)
def test_merge_is_associative(a: VectorClock, b: VectorClock, c: VectorClock) -> None:
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@given(clocks)
def test_merge_is_idempotent(a: VectorClock) -> None:
    assert a.merge(a) == a


@given(clocks, clocks)
def test_merge_is_elementwise_max(a: VectorClock, b: VectorClock) -> None:
    m = a.merge(b)
    for node in a.as_dict().keys() | b.as_dict().keys():
        assert m.get(node) == max(a.get(node), b.get(node))


@given(clocks, clocks)
def test_each_input_precedes_or_equals_the_merge(a: VectorClock, b: VectorClock) -> None:
    assert a.compare(a.merge(b)) in (Ordering.BEFORE, Ordering.EQUAL)
    assert b.compare(a.merge(b)) in (Ordering.BEFORE, Ordering.EQUAL)


@given(clocks, clocks)
def test_compare_is_antisymmetric(a: VectorClock, b: VectorClock) -> None:
    assert b.compare(a) is _REVERSE[a.compare(b)]


@given(clocks, clocks)
def test_compare_equal_iff_equal(a: VectorClock, b: VectorClock) -> None:
    assert (a.compare(b) is Ordering.EQUAL) == (a == b)
    if a == b:
        assert hash(a) == hash(b)


@given(clocks, clocks)
def test_compare_matches_elementwise_definition(a: VectorClock, b: VectorClock) -> None:
    nodes = a.as_dict().keys() | b.as_dict().keys()
    le = all(a.get(n) <= b.get(n) for n in nodes)
    ge = all(a.get(n) >= b.get(n) for n in nodes)
    expected = {
        (True, True): Ordering.EQUAL,
        (True, False): Ordering.BEFORE,
        (False, True): Ordering.AFTER,
        (False, False): Ordering.CONCURRENT,
    }[(le, ge)]
    assert a.compare(b) is expected


@given(clocks, NODES)
def test_increment_happens_after(a: VectorClock, node: str) -> None:
    b = a.increment(node)
    assert b.compare(a) is Ordering.AFTER
    assert a.compare(b) is Ordering.BEFORE
    assert b.get(node) == a.get(node) + 1


@given(clocks)
def test_round_trip_through_dict(a: VectorClock) -> None:
    assert VectorClock.from_mapping(a.as_dict()) == a
    assert 0 not in a.as_dict().values()


def test_concurrent_example() -> None:
    a = VectorClock.from_mapping({"x": 2, "y": 1})
    b = VectorClock.from_mapping({"x": 1, "y": 2})
    assert a.compare(b) is Ordering.CONCURRENT
    assert a.merge(b).as_dict() == {"x": 2, "y": 2}


def test_zero_entries_are_dropped() -> None:
    a = VectorClock.from_mapping({"x": 0, "y": 3})
    b = VectorClock.from_mapping({"y": 3})
    assert a == b
    assert hash(a) == hash(b)
    assert a.as_dict() == {"y": 3}
    assert a.get("x") == 0
    assert a.get("absent") == 0
    assert VectorClock.from_mapping({"x": 0}) == VectorClock()
    assert VectorClock.from_mapping({"x": 0}).compare(VectorClock()) is Ordering.EQUAL


def test_entries_are_sorted_regardless_of_insertion_order() -> None:
    a = VectorClock.from_mapping({"b": 1, "a": 2, "c": 3})
    b = VectorClock.from_mapping({"c": 3, "a": 2, "b": 1})
    assert a.entries == b.entries == (("a", 2), ("b", 1), ("c", 3))


def test_operations_do_not_mutate() -> None:
    a = VectorClock.from_mapping({"x": 1})
    a.increment("x")
    a.merge(VectorClock.from_mapping({"x": 5}))
    a.as_dict()["x"] = 99
    assert a.as_dict() == {"x": 1}


@pytest.mark.parametrize(
    "mapping",
    [
        {"x": -1},
        {"x": True},
        {"x": False},
        {"x": 1.0},
        {"x": "1"},
        {"x": None},
        {"": 1},
        {1: 1},
        {None: 1},
    ],
)
def test_invalid_mappings_are_rejected(mapping: dict[Any, Any]) -> None:
    with pytest.raises(InvalidClockError) as info:
        VectorClock.from_mapping(mapping)
    assert isinstance(info.value, ContractError)


def test_too_many_entries_are_rejected() -> None:
    mapping = {f"n{i}": 1 for i in range(1025)}
    with pytest.raises(InvalidClockError, match="too many entries"):
        VectorClock.from_mapping(mapping)
    assert len(VectorClock.from_mapping(dict(list(mapping.items())[:1024])).entries) == 1024
    with pytest.raises(InvalidClockError):
        VectorClock.from_mapping({"a": 1, "b": 1}, max_entries=1)
    assert VectorClock.from_mapping({"a": 1}, max_entries=1).get("a") == 1


def test_max_entries_must_be_non_negative() -> None:
    with pytest.raises(ValueError):
        VectorClock.from_mapping({}, max_entries=-1)


def test_non_mapping_is_rejected() -> None:
    with pytest.raises(InvalidClockError):
        VectorClock.from_mapping([("x", 1)])  # type: ignore[arg-type]


def test_direct_construction_is_validated() -> None:
    assert VectorClock((("b", 1), ("a", 0))).entries == (("b", 1),)
    with pytest.raises(InvalidClockError):
        VectorClock((("a", 1), ("a", 2)))
    with pytest.raises(InvalidClockError):
        VectorClock((("a", -1),))
    with pytest.raises(InvalidClockError):
        VectorClock((("a",),))  # type: ignore[arg-type]


def test_increment_rejects_empty_node() -> None:
    with pytest.raises(InvalidClockError):
        VectorClock().increment("")


def test_error_messages_do_not_echo_input() -> None:
    with pytest.raises(InvalidClockError) as info:
        VectorClock.from_mapping({"Jane Doe": -7})
    assert "Jane" not in str(info.value)
    assert "-7" not in str(info.value)


_NODES = st.text(alphabet="abcdef", min_size=1, max_size=3)
_CLOCKS = st.dictionaries(_NODES, st.integers(1, 20), max_size=12)


@given(st.lists(_CLOCKS, min_size=1, max_size=8), st.integers(1, 10), st.randoms())
def test_truncation_after_every_merge_is_the_truncation_of_the_whole_merge(
        clocks: list[dict[str, int]], bound: int, rnd: random.Random) -> None:
    # The stored clock's bound keeps the entries with the greatest (counter, node): the
    # stored clock is a function of the set of events, whatever order they merge in.
    whole = VectorClock()
    for c in clocks:
        whole = whole.merge(VectorClock.from_mapping(c))
    expected = whole.truncated(bound)
    order = list(clocks)
    rnd.shuffle(order)
    stepwise = VectorClock()
    for c in order:
        stepwise = stepwise.merge(VectorClock.from_mapping(c)).truncated(bound)
    assert stepwise == expected
    assert len(stepwise.entries) <= bound
