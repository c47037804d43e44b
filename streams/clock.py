"""The project's clock: wall-clock time plus a fixed offset that tests inject.

Everything in ``streams`` that needs the current time for domain logic (HLC readings,
the future-skew bound, synthetic events, dead-letter stamps) reads it here, and the
database reads the same clock through ``emr_now()`` (migration 0010). In production the
offset is 0 and this is the wall clock. The test suite sets an offset
(``EMR_STREAMS_CLOCK_OFFSET_US``, derived once per run from ``EMR_STREAMS_TEST_NOW``) so
the whole suite runs as if it were another instant; time keeps moving at its normal
rate, so a run started at 23:59:20 on 31 December crosses into the new year.

What is *not* shifted: Kafka record timestamps (producers and brokers stamp them with
the real time, and brokers refuse timestamps far from theirs), TLS certificate validity,
timeouts and durations (``time.monotonic``).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

__all__ = ["DB_OFFSET_SETTING", "now", "now_us", "offset_us", "set_offset_us", "today"]

#: The PostgreSQL setting ``emr_now()`` adds to ``now()`` (microseconds; unset means 0).
DB_OFFSET_SETTING = "emr_streams.clock_offset_us"

_state = {"offset_us": 0}


def set_offset_us(offset: int) -> None:
    """Shift this process's clock by *offset* microseconds (testing only; 0 in production).

    Quiet by design (a CLI command's stderr is one line); the worker logs a warning at
    start when its clock is shifted.
    """
    _state["offset_us"] = int(offset)


def offset_us() -> int:
    """The current offset in microseconds (0 unless a test shifted the clock)."""
    return _state["offset_us"]


def now_us() -> int:
    """Microseconds since the Unix epoch, UTC."""
    return time.time_ns() // 1000 + _state["offset_us"]


def now() -> datetime:
    """The current instant as an aware UTC datetime."""
    seconds, micros = divmod(now_us(), 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)


def today() -> date:
    """The current calendar date in UTC (never the machine's local time zone)."""
    return now().date()
