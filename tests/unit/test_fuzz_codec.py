"""Fuzzing the decode path: hostile bytes either decode into an event within the bounds or
raise the codec's DecodeError (never another exception, never a hang, never a value echoed)."""

from __future__ import annotations

import io
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from streams import clock
from streams.contracts import (
    AvroCodec,
    BoundsError,
    DecodeError,
    Limits,
    MessageTooLargeError,
    SchemaCatalogue,
    SchemaMismatchError,
    TruncatedMessageError,
    UnknownSchemaError,
)
from streams.contracts.catalogue import crc64_fingerprint
from streams.contracts.codec import SOE_MAGIC
from streams.contracts.models import AnyEvent, event_from_avro
from tests.unit.events_fixtures import PATIENT, every_event

CATALOGUE = SchemaCatalogue()
#: Small bounds, so the fuzzers reach both sides of each with small examples.
SMALL = Limits(max_message_bytes=64 * 1024, max_string_chars=64, max_array_items=8,
               max_clock_entries=16, max_clock_counter=10**6)
CODEC = AvroCodec(CATALOGUE, limits=SMALL)
DEFAULT = AvroCodec(CATALOGUE)
WRITER = AvroCodec(CATALOGUE, limits=None)  # encodes whatever the Avro types allow
EVENTS = every_event()
GOLDEN = [WRITER.encode(e.schema_name, e.to_avro()) for e in EVENTS]
FINGERPRINTS = [CATALOGUE.latest(name).fingerprint for name in CATALOGUE.names]
PHI = ("Jane", "Doe", PATIENT.mrn, "epic-42")

FUZZ = settings(max_examples=300, deadline=timedelta(seconds=2),
                suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=timedelta(seconds=5),
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SQL_LIKE = ["'; DROP TABLE tasks; --", "Robert'); DROP TABLE patients;--", "1 OR 1=1",
            "$$; SELECT pg_sleep(10); $$", "\\x00' || chr(0) || '", "%s %(x)s {0} $1",
            "E'\\\\' ; COMMIT; DELETE FROM audit_logs; --", "/* */ UNION SELECT * FROM users"]
#: Any Unicode scalar (no surrogates: UTF-8 cannot carry them), NUL and controls included.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)


def _decode(data: bytes, codec: AvroCodec = CODEC) -> AnyEvent | DecodeError:
    """The event *data* holds, or the DecodeError it raises (any other error fails)."""
    try:
        decoded = codec.decode(data)
        return event_from_avro(decoded.schema, decoded.record)
    except DecodeError as exc:
        for value in PHI:
            assert value not in str(exc)
        return exc


def _within(event: AnyEvent, limits: Limits) -> None:
    """An oracle of the bounds, independent of streams.contracts.bounds."""
    now = clock.now() + timedelta(seconds=limits.max_future_skew + 5)
    assert len(event.vector_clock) <= limits.max_clock_entries
    assert all(0 <= c <= limits.max_clock_counter for c in event.vector_clock.values())
    assert event.hlc.physical_us <= now.timestamp() * 1e6 and event.occurred_at <= now

    def walk(value: Any) -> None:
        if isinstance(value, str):
            assert len(value) <= limits.max_string_chars and "\x00" not in value
        elif isinstance(value, datetime):
            assert limits.min_date <= value.astimezone(UTC).date() <= limits.max_date
        elif isinstance(value, date):
            assert limits.min_date <= value <= limits.max_date
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            assert len(value) <= limits.max_array_items
            for item in value:
                walk(item)

    walk(event.model_dump())


def _either(data: bytes, codec: AvroCodec = CODEC) -> AnyEvent | DecodeError:
    outcome = _decode(data, codec)
    if not isinstance(outcome, DecodeError):
        assert codec.limits is not None
        _within(outcome, codec.limits)
    return outcome


def _with(event: AnyEvent, path: str, value: Any) -> bytes:
    """*event* encoded with the field at dotted *path* of its Avro record set to *value*."""
    record = event.to_avro()
    *parents, leaf = path.split(".")
    target = record
    for name in parents:
        target = target[name]
        if isinstance(target, tuple):  # a named union branch: (record name, fields)
            target = target[1]
    target[leaf] = value
    return WRITER.encode(event.schema_name, record)


def _rejects(data: bytes, *, bound: str, field: str, codec: AvroCodec = CODEC,
             secret: object = None) -> BoundsError:
    outcome = _decode(data, codec)
    assert isinstance(outcome, BoundsError), outcome
    assert bound in str(outcome) and field in str(outcome)
    if isinstance(secret, str) and len(secret) >= 8:
        assert secret not in str(outcome)
    return outcome


# Arbitrary and damaged bytes ------------------------------------------------------------
@FUZZ
@given(prefix=st.sampled_from([b"", SOE_MAGIC, b"\x00", b"\x00\x00\x00\x00\x01",
                               *(SOE_MAGIC + fp for fp in FINGERPRINTS)]),
       body=st.binary(max_size=4096))
def test_random_bytes_decode_or_raise_decode_errors(prefix: bytes, body: bytes) -> None:
    _either(prefix + body)


@pytest.mark.parametrize("index", range(len(GOLDEN)), ids=[e.event_type for e in EVENTS])
def test_every_prefix_of_a_golden_message_is_truncated(index: int) -> None:
    data = GOLDEN[index]
    assert isinstance(_decode(data), type(EVENTS[index]))
    for end in range(len(data)):
        outcome = _decode(data[:end])
        expected = UnknownSchemaError if end == 1 else TruncatedMessageError  # b"\xc3" alone
        assert isinstance(outcome, expected), (end, outcome)


@FUZZ
@given(index=st.integers(0, len(GOLDEN) - 1), flips=st.lists(st.integers(0, 10**6), min_size=1,
                                                           max_size=8))
def test_bit_flipped_messages_decode_or_raise_decode_errors(index: int, flips: list[int]
                                                            ) -> None:
    data = bytearray(GOLDEN[index])
    for bit in flips:
        data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    _either(bytes(data))


@FUZZ
@given(fingerprint=st.binary(min_size=8, max_size=8), index=st.integers(0, len(GOLDEN) - 1))
def test_an_unknown_fingerprint_is_an_unknown_schema(fingerprint: bytes, index: int) -> None:
    assume(fingerprint not in FINGERPRINTS)
    outcome = _decode(SOE_MAGIC + fingerprint + GOLDEN[index][10:])
    assert isinstance(outcome, UnknownSchemaError)


@pytest.mark.parametrize("index", range(len(GOLDEN)), ids=[e.event_type for e in EVENTS])
@pytest.mark.parametrize("fingerprint", FINGERPRINTS, ids=CATALOGUE.names)
def test_a_body_framed_with_another_schemas_fingerprint(index: int, fingerprint: bytes) -> None:
    outcome = _either(SOE_MAGIC + fingerprint + GOLDEN[index][10:])
    if fingerprint != GOLDEN[index][2:10]:
        assert isinstance(outcome, DecodeError)


@FUZZ
@given(values=st.lists(st.one_of(TEXT, st.integers(-(2**63), 2**63 - 1), st.booleans()),
                       min_size=1, max_size=6))
def test_valid_avro_of_a_foreign_schema(values: list[object]) -> None:
    fields = [{"name": f"f{i}", "type": {str: "string", int: "long", bool: "boolean"}[type(v)]}
              for i, v in enumerate(values)]
    schema = parse_schema({"type": "record", "name": "Foreign", "namespace": "evil",
                           "fields": fields})
    body = io.BytesIO()
    schemaless_writer(body, schema, {f"f{i}": v for i, v in enumerate(values)})
    own = _decode(SOE_MAGIC + crc64_fingerprint(schema) + body.getvalue())
    assert isinstance(own, UnknownSchemaError)
    for fingerprint in FINGERPRINTS:
        _either(SOE_MAGIC + fingerprint + body.getvalue())


# Strings ---------------------------------------------------------------------------------
FREE_TEXT = [(0, "payload.description"), (0, "payload.emr_reference"),
             (0, "task.patient.first_name"), (3, "payload.reason"), (6, "payload.notes"),
             (8, "payload.reason"), (12, "payload.failure_reason"),
             (11, "verification.emr_reference")]


@FUZZ
@given(where=st.sampled_from(FREE_TEXT),
       text=st.one_of(TEXT, st.sampled_from(SQL_LIKE),
                      st.integers(0, 200).map(lambda n: "é" * n)))
def test_free_text_is_kept_verbatim_or_rejected_by_its_bound(where: tuple[int, str],
                                                             text: str) -> None:
    index, path = where
    outcome = _decode(_with(EVENTS[index], path, text))
    if len(text) > SMALL.max_string_chars:
        _rejects(_with(EVENTS[index], path, text), bound="max_string_chars", field=path,
                 secret=text)
    elif "\x00" in text:
        _rejects(_with(EVENTS[index], path, text), bound="NUL", field=path, secret=text)
    else:
        assert not isinstance(outcome, DecodeError), outcome
        value: Any = outcome
        for name in path.split("."):
            value = getattr(value, name)
        assert value == text


def test_a_string_at_the_default_bound_is_kept_and_one_more_char_rejected() -> None:
    event = EVENTS[0]
    longest = "\U0001f489" * DEFAULT.limits.max_string_chars  # type: ignore[union-attr]
    decoded = _decode(_with(event, "payload.description", longest), DEFAULT)
    assert decoded.payload.description == longest  # type: ignore[union-attr]
    _rejects(_with(event, "payload.description", longest + "x"), bound="max_string_chars",
             field="payload.description", codec=DEFAULT, secret=longest)


@FUZZ
@given(data=st.data(), index=st.sampled_from([0, 3, 12]))
def test_invalid_utf8_in_a_string_is_a_decode_error(data: st.DataObject, index: int) -> None:
    path = {0: "payload.description", 3: "payload.reason", 12: "payload.failure_reason"}[index]
    marker = "\u2603" * 8  # 24 bytes we can find and overwrite in the encoding
    encoded = _with(EVENTS[index], path, marker)
    raw = data.draw(st.binary(min_size=24, max_size=24))
    hostile = encoded.replace(marker.encode(), raw)
    outcome = _decode(hostile)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        # Where the string ends the body, bad UTF-8 cannot be told from a body cut short.
        expected = (SchemaMismatchError, TruncatedMessageError) if index == 3 \
            else SchemaMismatchError
        assert isinstance(outcome, expected), outcome
        return
    if "\x00" in text:
        assert isinstance(outcome, BoundsError)
    else:
        assert not isinstance(outcome, DecodeError), outcome


def test_a_string_whose_length_prefix_claims_2_gib_allocates_nothing() -> None:
    # Avro zig-zag varint of 2**31: the event_id string claims 2 GiB, the message has 100 B.
    claim = bytes([0x80, 0x80, 0x80, 0x80, 0x10])
    tracemalloc.start()
    try:
        outcome = _decode(GOLDEN[0][:10] + claim + b"x" * 100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(outcome, TruncatedMessageError)
    assert peak < 1024 * 1024


# Clocks ----------------------------------------------------------------------------------
@FEW
@given(size=st.integers(0, 3000))
def test_vector_clocks_with_thousands_of_nodes(size: int) -> None:
    clock = {f"node-{i:05}": i + 1 for i in range(size)}
    data = _with(EVENTS[0], "vector_clock", clock)
    if size > DEFAULT.limits.max_clock_entries:  # type: ignore[union-attr]
        _rejects(data, bound="max_clock_entries", field="vector_clock", codec=DEFAULT)
    else:
        decoded = _decode(data, DEFAULT)
        assert not isinstance(decoded, DecodeError) and decoded.vector_clock == clock


@FUZZ
@given(counter=st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-3, 3),
                         st.integers(SMALL.max_clock_counter - 2,
                                     SMALL.max_clock_counter + 2)))
def test_clock_counters_outside_the_bound(counter: int) -> None:
    data = _with(EVENTS[0], "vector_clock", {"tablet-7": counter})
    if 0 <= counter <= SMALL.max_clock_counter:
        decoded = _decode(data)
        assert not isinstance(decoded, DecodeError)
    else:
        _rejects(data, bound="max_clock_counter", field="vector_clock")


@FUZZ
@given(logical=st.integers(-(2**31), 2**31 - 1))
def test_hlc_logical_counters_outside_the_bound(logical: int) -> None:
    data = _with(EVENTS[0], "hlc", {**EVENTS[0].to_avro()["hlc"], "logical": logical})
    if 0 <= logical <= SMALL.max_clock_counter:
        assert not isinstance(_decode(data), DecodeError)
    else:
        _rejects(data, bound="max_clock_counter", field="hlc.logical")


def _now_us() -> int:
    return clock.now_us()


@FUZZ
@given(ahead_s=st.one_of(st.integers(-10**9, 10**10), st.integers(250, 350)))
def test_hlc_and_occurred_at_ahead_of_the_processors_clock(ahead_s: int) -> None:
    assume(abs(ahead_s - SMALL.max_future_skew) > 20)  # clear of the bound: no race with now
    physical = _now_us() + ahead_s * 1_000_000
    assume(0 <= physical <= SMALL.max_us)
    hlc = {**EVENTS[0].to_avro()["hlc"], "physical_us": physical}
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=physical)
    if ahead_s < SMALL.max_future_skew:
        assert not isinstance(_decode(_with(EVENTS[0], "hlc", hlc)), DecodeError)
        assert not isinstance(_decode(_with(EVENTS[0], "occurred_at", moment)), DecodeError)
    else:
        _rejects(_with(EVENTS[0], "hlc", hlc), bound="max_future_skew", field="hlc.physical_us")
        _rejects(_with(EVENTS[0], "occurred_at", moment), bound="max_future_skew",
                 field="occurred_at")


@FUZZ
@given(physical=st.integers(-(2**63), 2**63 - 1))
def test_any_hlc_physical_time(physical: int) -> None:
    hlc = {**EVENTS[0].to_avro()["hlc"], "physical_us": physical}
    outcome = _either(_with(EVENTS[0], "hlc", hlc))
    if physical < 0 or physical > _now_us() + 400_000_000:
        assert isinstance(outcome, BoundsError)


# Dates -----------------------------------------------------------------------------------
DATED = [(0, "task.patient.date_of_birth"), (0, "payload.due_at"), (4, "payload.completed_at"),
         (9, "payload.completed_at"), (11, "payload.verified_at"), (6, "handover.to_shift.ends_at")]


@FUZZ
@given(where=st.sampled_from(DATED), moment=st.datetimes(timezones=st.just(UTC)))
def test_dates_outside_the_plausible_range(where: tuple[int, str], moment: datetime) -> None:
    index, path = where
    value: date = moment.date() if path.endswith("date_of_birth") else moment
    data = _with(EVENTS[index], path, value)
    day = moment.date()
    outcome = _decode(data)
    if SMALL.min_date <= day <= SMALL.max_date:
        # In range: decoded, or refused by a model rule (a shift ending before it starts).
        assert not isinstance(outcome, BoundsError), outcome
    else:
        _rejects(data, bound="min_date..max_date", field=path)


@FUZZ
@given(where=st.sampled_from([p for p in DATED if not p[1].endswith("date_of_birth")]),
       micros=st.integers(-(2**63), 2**63 - 1))
def test_timestamps_beyond_pythons_datetime_range(where: tuple[int, str], micros: int) -> None:
    index, path = where
    _either(_with(EVENTS[index], path, micros))  # fastavro passes a raw long through


def test_occurred_at_beyond_pythons_range_is_a_schema_mismatch_not_a_truncation() -> None:
    data = _with(EVENTS[9], "payload.completed_at", 2**62)  # the last field of the body
    assert isinstance(_decode(data), SchemaMismatchError)


# Arrays ----------------------------------------------------------------------------------
@FEW
@given(size=st.integers(0, 40), index=st.sampled_from([6, 10, 11]))
def test_arrays_longer_than_the_bound(size: int, index: int) -> None:
    record = EVENTS[index].to_avro()
    _, payload = record["payload"]
    key = {6: "tasks", 10: "fields", 11: "checks"}[index]
    item = payload[key][0]
    payload[key] = [item] * size
    data = WRITER.encode(EVENTS[index].schema_name, record)
    if size > SMALL.max_array_items:
        _rejects(data, bound="max_array_items", field=f"payload.{key}")
    else:
        assert not isinstance(_decode(data), DecodeError)


# Size ------------------------------------------------------------------------------------
def test_a_50_mib_message_is_rejected_by_size_before_decoding() -> None:
    data = GOLDEN[0][:10] + b"\xff" * (50 * 1024 * 1024)
    tracemalloc.start()
    try:
        outcome = _decode(data, DEFAULT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(outcome, MessageTooLargeError)
    assert "max_message_bytes (1048576)" in str(outcome)
    assert peak < 1024 * 1024  # nothing proportional to the message was allocated


@pytest.mark.timeout(60)
@pytest.mark.parametrize("filler", [b"\xff", b"\x80", b"\x00", b"\x02"])
def test_a_message_just_under_the_size_bound_decodes_quickly_or_fails_cleanly(
        filler: bytes) -> None:
    limit = DEFAULT.limits.max_message_bytes  # type: ignore[union-attr]
    data = GOLDEN[0][:10] + filler * (limit - 10)
    started = time.perf_counter()
    assert isinstance(_decode(data, DEFAULT), DecodeError)
    assert time.perf_counter() - started < 30


def test_every_golden_message_decodes_with_the_default_bounds() -> None:
    for data, event in zip(GOLDEN, EVENTS, strict=True):
        assert _either(data, DEFAULT) == event
