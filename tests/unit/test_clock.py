"""The project's clock: one offset for Python, subprocesses and PostgreSQL sessions."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from psycopg.conninfo import conninfo_to_dict

from streams import clock
from streams.config import Settings
from streams.contracts.hlc import HybridClock
from tests.fixtures.clock import parse_instant
from tests.instants import INSTANTS, add_months, month_start


@pytest.fixture
def shifted(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's clock reads 2026-12-31T23:59:59.5Z when it starts."""
    target = datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    offset = round((target - datetime.now(UTC)) / timedelta(microseconds=1))
    monkeypatch.setitem(clock._state, "offset_us", offset)


@pytest.mark.usefixtures("shifted")
def test_the_clock_reads_the_shifted_instant_and_runs_on() -> None:
    start = clock.now()
    assert abs(start - datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)) < \
        timedelta(seconds=0.25)
    assert clock.today() == start.date()
    assert start.tzinfo is UTC
    time.sleep(0.6)
    assert clock.today().year == 2027  # it crossed midnight on its own: time runs
    assert clock.now_us() - round(start.timestamp() * 1e6) >= 600_000


@pytest.mark.usefixtures("shifted")
def test_a_hybrid_clock_reads_the_projects_clock_by_default() -> None:
    stamp = HybridClock("n1").send()
    assert abs(stamp.physical - clock.now_us()) < 250_000


def test_the_offset_reaches_postgresql_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMR_STREAMS_CLOCK_OFFSET_US", "-86400000000")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example:5432/emr?options=-c%20a%3Db")
    settings = Settings()
    assert settings.clock.offset_us == -86_400_000_000
    options = conninfo_to_dict(settings.database_url)["options"]
    assert options == "-c a=b -c emr_streams.clock_offset_us=-86400000000"
    monkeypatch.delenv("EMR_STREAMS_CLOCK_OFFSET_US")
    assert "clock_offset" not in Settings().database_url


@pytest.mark.parametrize("text", ["2027-03-01", "2027-03-01T00:00:20", "yesterday"])
def test_test_now_must_be_an_instant_with_a_zone(text: str) -> None:
    with pytest.raises(pytest.UsageError):
        parse_instant(text)


def test_test_now_accepts_z_and_offsets() -> None:
    assert parse_instant("2027-03-01T00:00:20Z") == datetime(2027, 3, 1, 0, 0, 20, tzinfo=UTC)
    assert parse_instant("2027-02-28T19:00:20-05:00") == \
        datetime(2027, 3, 1, 0, 0, 20, tzinfo=UTC)


@pytest.mark.parametrize(("first", "months", "expected"), [
    ("2026-12-01", -1, "2026-11-01"), ("2026-12-01", 1, "2027-01-01"),
    ("2027-03-01", -1, "2027-02-01"), ("2028-02-01", 12, "2029-02-01"),
    ("2026-01-01", -13, "2024-12-01"), ("2026-07-01", -84, "2019-07-01"),
])
def test_month_arithmetic_is_calendar_arithmetic(first: str, months: int,
                                                 expected: str) -> None:
    assert add_months(datetime.fromisoformat(first).date(), months).isoformat() == expected


def test_the_pinned_instants_are_the_awkward_ones() -> None:
    assert {month_start(i).month for i in INSTANTS} >= {2, 3, 4, 12}
    assert any(i.month == 2 and i.day == 29 for i in INSTANTS)


@pytest.mark.parametrize("instant", INSTANTS, ids=str)
def test_hybrid_clock_timestamps_stay_ordered_across_midnight_and_a_clock_step_back(
        instant: datetime) -> None:
    # The wall clock reads the instant, 45 s later (past midnight, a month's or a year's
    # end), then steps back 30 s (an NTP correction): timestamps only ever increase.
    base = round((instant - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    readings = iter([base, base + 45_000_000, base + 15_000_000, base + 15_000_000])
    hlc = HybridClock("n1", now=lambda: next(readings))
    stamps = [hlc.send() for _ in range(4)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert stamps[1].physical == stamps[2].physical == stamps[3].physical == base + 45_000_000
