"""Bounds on hostile input: a message's size before decoding, a decoded event's values after.

Every violation raises :class:`BoundsError` (:class:`MessageTooLargeError` for the size), a
``DecodeError``, so the processor dead-letters the record with the message as its reason.
The message names the field and the bound, never the value: values may be PHI.

The v1 schemas have one map (``vector_clock``, bounded by ``max_clock_entries``) and no
recursive types, so nesting depth is fixed by the schemas and needs no bound of its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from functools import cached_property
from typing import Any
from uuid import UUID

from streams import clock
from streams.contracts.errors import BoundsError, MessageTooLargeError

__all__ = ["DEFAULT_LIMITS", "MAX_CLOCK_COUNTER", "Limits", "check_record", "check_size"]

MAX_CLOCK_COUNTER = 2**53 - 1
"""Default bound on clock counters: the largest integer every JSON reader keeps exactly
(the merged vector clock is published as JSON on the state topics)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The bounds a message and its decoded event must keep (the settings' defaults).

    ``max_future_skew`` is in seconds; ``min_date`` and ``max_date`` are inclusive UTC dates.
    Invalid bounds raise ``ValueError`` (a configuration error, not bad input).
    """

    max_message_bytes: int = 1_048_576
    max_string_chars: int = 65_536
    max_array_items: int = 1_000
    max_clock_entries: int = 256
    max_node_id_chars: int = 128
    max_clock_counter: int = MAX_CLOCK_COUNTER
    max_future_skew: float = 300.0
    min_date: date = date(1900, 1, 1)
    max_date: date = date(2200, 1, 1)

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "max_string_chars", "max_array_items",
                     "max_clock_entries", "max_node_id_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer")
        if not 0 <= self.max_clock_counter < 2**63:
            raise ValueError("max_clock_counter must be in 0 .. 2**63 - 1")
        if not math.isfinite(self.max_future_skew) or self.max_future_skew < 0:
            raise ValueError("max_future_skew must be a finite number of seconds >= 0")
        if self.min_date >= self.max_date:
            raise ValueError("min_date must be before max_date")

    @cached_property
    def min_us(self) -> int:
        """The first microsecond of ``min_date`` since the Unix epoch."""
        return _epoch_us(datetime.combine(self.min_date, clock_time.min, UTC))

    @cached_property
    def max_us(self) -> int:
        """The last microsecond of ``max_date`` since the Unix epoch."""
        return _epoch_us(datetime.combine(self.max_date, clock_time.max, UTC))


DEFAULT_LIMITS = Limits()
"""The bounds of the default settings."""


def _epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def check_size(data: bytes | None, limits: Limits) -> None:
    """Raise MessageTooLargeError if *data* is larger than ``max_message_bytes``.

    Called before anything is decoded, so no decoder allocates for an oversized message.
    """
    size = len(data) if data else 0
    if size > limits.max_message_bytes:
        raise MessageTooLargeError(f"message of {size} bytes is larger than "
                                   f"max_message_bytes ({limits.max_message_bytes})")


def check_record(schema: str, record: Mapping[str, Any], limits: Limits, *,
                 now_us: int | None = None) -> None:
    """Raise BoundsError if the decoded *record* of *schema* breaks one of *limits*.

    *now_us* is the processor's clock (microseconds since the epoch; default: now), which
    ``hlc.physical_us`` and ``occurred_at`` may be ahead of by ``max_future_skew`` at most.
    Every string (no longer than ``max_string_chars``, no NUL character, which PostgreSQL
    text cannot store), array, date and timestamp of the record is checked, at any depth.
    """
    now = clock.now_us() if now_us is None else now_us
    latest_us = now + int(limits.max_future_skew * 1_000_000)
    _check_clock(schema, record.get("vector_clock"), limits)
    hlc = record.get("hlc")
    if isinstance(hlc, Mapping):
        _check_hlc(schema, hlc, limits, latest_us)
    origin = record.get("origin_node")
    if isinstance(origin, str):
        _check_node(schema, "origin_node", origin, limits)
    occurred_at = record.get("occurred_at")
    if isinstance(occurred_at, datetime) and _epoch_us(occurred_at) > latest_us:
        raise BoundsError(f"{schema}: occurred_at is more than max_future_skew "
                          f"({limits.max_future_skew:g} s) ahead of the processor's clock")
    if _within_limits(record, limits):
        return
    # Something is out of bounds: walk again, naming paths, to say what.
    stack: list[tuple[str, Any]] = [(k, v) for k, v in record.items() if k != "vector_clock"]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            _check_string(schema, path, value, limits)
        elif isinstance(value, date):
            _check_date(schema, path, value, limits)
        elif isinstance(value, Mapping):
            stack.extend((f"{path}.{k}", v) for k, v in value.items())
        elif isinstance(value, list | tuple):
            if len(value) > limits.max_array_items:
                raise BoundsError(f"{schema}: {path} has more than max_array_items "
                                  f"({limits.max_array_items}) items")
            stack.extend((f"{path}[]", v) for v in value)


#: Value types the decoder produces that no bound applies to.
_SCALARS = frozenset({int, float, bool, bytes, type(None), UUID})


def _within_limits(record: Mapping[str, Any], limits: Limits) -> bool:
    """The fast path of the walk in check_record: every value checked, no paths built."""
    max_chars, max_items = limits.max_string_chars, limits.max_array_items
    min_date, max_date = limits.min_date, limits.max_date
    stack = [v for k, v in record.items() if k != "vector_clock"]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            if len(value) > max_chars or "\x00" in value:
                return False
        elif kind is dict:
            stack.extend(value.values())
        elif kind is list or kind is tuple:
            if len(value) > max_items:
                return False
            stack.extend(value)
        elif kind is datetime:
            if not min_date <= value.astimezone(UTC).date() <= max_date:
                return False
        elif kind is date:
            if not min_date <= value <= max_date:
                return False
        elif kind in _SCALARS:
            continue
        elif isinstance(value, str | date | Mapping | list | tuple):
            return False  # a subclass: let the careful walk decide
    return True


def _check_string(schema: str, path: str, value: str, limits: Limits) -> None:
    if len(value) > limits.max_string_chars:
        raise BoundsError(f"{schema}: {path} is longer than max_string_chars "
                          f"({limits.max_string_chars})")
    if "\x00" in value:
        raise BoundsError(f"{schema}: {path} contains a NUL character (U+0000), which "
                          "PostgreSQL text cannot store")


def _check_date(schema: str, path: str, value: date, limits: Limits) -> None:
    day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
    if not limits.min_date <= day <= limits.max_date:
        raise BoundsError(f"{schema}: {path} is outside min_date..max_date "
                          f"({limits.min_date}..{limits.max_date})")


def _check_clock(schema: str, clock: Any, limits: Limits) -> None:
    if not isinstance(clock, Mapping):
        return
    if len(clock) > limits.max_clock_entries:
        raise BoundsError(f"{schema}: vector_clock has more than max_clock_entries "
                          f"({limits.max_clock_entries}) entries")
    for node, counter in clock.items():
        if isinstance(node, str):
            _check_node(schema, "vector_clock (node id)", node, limits)
        if isinstance(counter, int) and not 0 <= counter <= limits.max_clock_counter:
            raise BoundsError(f"{schema}: a vector_clock counter is outside "
                              f"0..max_clock_counter ({limits.max_clock_counter})")


def _check_node(schema: str, path: str, node: str, limits: Limits) -> None:
    # Node ids are stored in every merged clock and conflict row: short and never empty.
    if not 1 <= len(node) <= limits.max_node_id_chars:
        raise BoundsError(f"{schema}: {path} is empty or longer than max_node_id_chars "
                          f"({limits.max_node_id_chars})")
    _check_string(schema, path, node, limits)


def _check_hlc(schema: str, hlc: Mapping[str, Any], limits: Limits, latest_us: int) -> None:
    physical, logical = hlc.get("physical_us"), hlc.get("logical")
    node = hlc.get("node")
    if isinstance(node, str):
        _check_node(schema, "hlc.node", node, limits)
    if isinstance(physical, int):
        if physical > latest_us:
            raise BoundsError(f"{schema}: hlc.physical_us is more than max_future_skew "
                              f"({limits.max_future_skew:g} s) ahead of the processor's clock")
        if not max(0, limits.min_us) <= physical <= limits.max_us:
            raise BoundsError(f"{schema}: hlc.physical_us is outside min_date..max_date "
                              f"({limits.min_date}..{limits.max_date}) or negative")
    if isinstance(logical, int) and not 0 <= logical <= limits.max_clock_counter:
        raise BoundsError(f"{schema}: hlc.logical is outside 0..max_clock_counter "
                          f"({limits.max_clock_counter})")
