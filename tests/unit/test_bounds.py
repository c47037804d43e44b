"""The bounds on hostile input: exact edges, their settings, and the codec the settings give."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from streams import clock
from streams.config import LimitsSettings, Settings
from streams.contracts import BoundsError, Limits, MessageTooLargeError
from streams.contracts.bounds import DEFAULT_LIMITS, check_record, check_size
from streams.kafka.schema_registry import codec_for
from tests.instants import INSTANTS
from tests.unit.events_fixtures import every_event

NOW_US = 1_800_000_000_000_000
LIMITS = Limits(max_string_chars=40, max_array_items=2, max_clock_entries=2,
                max_clock_counter=100, max_future_skew=60)


def _record() -> dict[str, object]:
    record = every_event()[0].to_avro()
    record["payload"] = record["payload"][1]  # as fastavro decodes it: the branch's fields
    record["vector_clock"] = {"a": 1}
    record["hlc"] = {"physical_us": NOW_US, "logical": 0, "node": "n"}
    record["occurred_at"] = datetime(2027, 1, 15, tzinfo=UTC)
    return record


def _check(**changes: object) -> None:
    record = _record()
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = record
        for name in parents:
            target = target[name]  # type: ignore[assignment]
        target[leaf] = value
    check_record("task_event", record, LIMITS, now_us=NOW_US)


def test_a_record_within_every_bound_passes() -> None:
    _check()


@pytest.mark.parametrize(("changes", "reason"), [
    ({"payload__description": "x" * 41},
     "payload.description is longer than max_string_chars (40)"),
    ({"task__patient__first_name": "a\x00b"}, "task.patient.first_name contains a NUL"),
    ({"vector_clock": {"a": 1, "b": 2, "c": 3}}, "more than max_clock_entries (2)"),
    ({"vector_clock": {"a": 101}}, "outside 0..max_clock_counter (100)"),
    ({"vector_clock": {"a": -1}}, "outside 0..max_clock_counter (100)"),
    ({"vector_clock": {"x" * 41: 1}}, "vector_clock (node id) is longer than max_string_chars"),
    ({"hlc": {"physical_us": NOW_US + 60_000_001, "logical": 0, "node": "n"}},
     "hlc.physical_us is more than max_future_skew (60 s)"),
    ({"hlc": {"physical_us": -1, "logical": 0, "node": "n"}}, "hlc.physical_us is outside"),
    ({"hlc": {"physical_us": NOW_US, "logical": 101, "node": "n"}}, "hlc.logical is outside"),
    ({"occurred_at": datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        microseconds=NOW_US + 60_000_001)}, "occurred_at is more than max_future_skew"),
    ({"task__patient__date_of_birth": date(1899, 12, 31)},
     "task.patient.date_of_birth is outside min_date..max_date (1900-01-01..2200-01-01)"),
    ({"payload__due_at": datetime(2200, 1, 2, tzinfo=UTC)}, "payload.due_at is outside"),
])
def test_each_bound_names_the_field_and_the_bound(changes: dict[str, object], reason: str
                                                  ) -> None:
    with pytest.raises(BoundsError) as caught:
        _check(**changes)
    assert reason in str(caught.value)
    assert str(caught.value).startswith("task_event: ")


@pytest.mark.parametrize("changes", [
    {"payload__description": "x" * 40},
    {"vector_clock": {"a": 100, "b": 0}},
    {"hlc": {"physical_us": NOW_US + 60_000_000, "logical": 100, "node": "n"}},
    {"occurred_at": datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=NOW_US + 60_000_000)},
    {"task__patient__date_of_birth": date(1900, 1, 1)},
    {"payload__due_at": datetime(2200, 1, 1, 23, 59, 59, tzinfo=UTC)},
])
def test_the_edges_of_each_bound_are_accepted(changes: dict[str, object]) -> None:
    _check(**changes)


def test_an_array_longer_than_the_bound() -> None:
    record = every_event()[10].to_avro()
    record["payload"] = {**record["payload"][1], "fields": ["a", "b", "c"]}
    record["hlc"] = {"physical_us": NOW_US, "logical": 0, "node": "n"}
    with pytest.raises(BoundsError, match=r"payload\.fields has more than max_array_items"):
        check_record("verification_event", record, Limits(max_array_items=2), now_us=NOW_US)


def test_the_size_is_checked_on_the_raw_bytes() -> None:
    check_size(b"x" * DEFAULT_LIMITS.max_message_bytes, DEFAULT_LIMITS)
    with pytest.raises(MessageTooLargeError, match=r"1048577 bytes .* max_message_bytes"):
        check_size(b"x" * (DEFAULT_LIMITS.max_message_bytes + 1), DEFAULT_LIMITS)


@pytest.mark.parametrize("bad", [{"max_string_chars": 0}, {"max_clock_counter": 2**63},
                                 {"max_clock_counter": -1}, {"max_future_skew": -1.0},
                                 {"max_future_skew": float("inf")},
                                 {"min_date": date(2200, 1, 1)}])
def test_invalid_limits_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Limits(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        LimitsSettings(**bad)  # type: ignore[arg-type]


def test_limits_come_from_the_environment_into_the_codec(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv("EMR_STREAMS_LIMITS_MAX_MESSAGE_BYTES", "2048")
    monkeypatch.setenv("EMR_STREAMS_LIMITS_MAX_STRING_CHARS", "100")
    monkeypatch.setenv("EMR_STREAMS_LIMITS_MAX_ARRAY_ITEMS", "5")
    monkeypatch.setenv("EMR_STREAMS_LIMITS_MAX_CLOCK_ENTRIES", "4")
    monkeypatch.setenv("EMR_STREAMS_LIMITS_MAX_CLOCK_COUNTER", "99")
    monkeypatch.setenv("EMR_STREAMS_LIMITS_MAX_FUTURE_SKEW", "30")
    monkeypatch.setenv("EMR_STREAMS_LIMITS_MIN_DATE", "1950-01-01")
    monkeypatch.setenv("EMR_STREAMS_LIMITS_MAX_DATE", "2100-12-31")
    assert codec_for(Settings()).limits == Limits(
        max_message_bytes=2048, max_string_chars=100, max_array_items=5, max_clock_entries=4,
        max_clock_counter=99, max_future_skew=30.0, min_date=date(1950, 1, 1),
        max_date=date(2100, 12, 31))


def test_the_settings_defaults_are_the_codecs_defaults() -> None:
    assert Limits(**LimitsSettings().model_dump()) == DEFAULT_LIMITS


def _epoch_us(moment: datetime) -> int:
    return round((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


@pytest.mark.parametrize("instant", INSTANTS, ids=str)
def test_the_future_skew_bound_holds_at_the_edges_of_days_months_and_years(
        instant: datetime) -> None:
    # An event stamped just past midnight, a month's or a year's end, seen by a processor
    # whose clock still reads the instant before it: the bound is a duration, not a date.
    now_us = _epoch_us(instant)
    skew_us = int(LIMITS.max_future_skew * 1_000_000)
    record = _record()
    for ahead_us, accepted in ((skew_us, True), (skew_us + 1, False)):
        moment = instant + timedelta(microseconds=ahead_us)
        record["hlc"] = {"physical_us": now_us + ahead_us, "logical": 0, "node": "n"}
        record["occurred_at"] = instant
        if accepted:
            check_record("task_event", record, LIMITS, now_us=now_us)
        else:
            with pytest.raises(BoundsError, match=r"hlc\.physical_us"):
                check_record("task_event", record, LIMITS, now_us=now_us)
        record["hlc"] = {"physical_us": now_us, "logical": 0, "node": "n"}
        record["occurred_at"] = moment
        if accepted:
            check_record("task_event", record, LIMITS, now_us=now_us)
        else:
            with pytest.raises(BoundsError, match="occurred_at"):
                check_record("task_event", record, LIMITS, now_us=now_us)


def test_the_default_reference_is_the_projects_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # A record stamped at the shifted clock's "now" passes only because check_record reads
    # streams.clock, not the machine's wall clock.
    monkeypatch.setitem(clock._state, "offset_us", 400 * 86_400 * 1_000_000)
    record = _record()
    record["hlc"] = {"physical_us": clock.now_us(), "logical": 0, "node": "n"}
    record["occurred_at"] = clock.now()
    check_record("task_event", record, LIMITS)
    monkeypatch.setitem(clock._state, "offset_us", 0)
    with pytest.raises(BoundsError, match="ahead of the processor's clock"):
        check_record("task_event", record, LIMITS)
