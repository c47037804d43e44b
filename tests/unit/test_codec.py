"""The codec: both framings, golden bytes, interop with fastavro alone and Apache avro."""

from __future__ import annotations

import io
import json
import shutil
import struct
from pathlib import Path

import avro.io
import avro.schema
import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form
from fastavro.utils import generate_many

from streams.contracts import (
    AvroCodec,
    EncodeError,
    SchemaCatalogue,
    SchemaMismatchError,
    TruncatedMessageError,
    UnknownSchemaError,
)
from streams.contracts.catalogue import default_schemas_dir, phi_paths
from streams.contracts.models import event_from_avro
from streams.kafka.schema_registry import ConfluentSchemaRegistry
from tests.unit.events_fixtures import every_event

GOLDEN = Path(__file__).parent / "golden"
CATALOGUE = SchemaCatalogue()
CODEC = AvroCodec(CATALOGUE)
#: Generated records have any value the Avro types allow (negative counters, clocks far in
#: the future): the round trip of the Avro layer alone is tested without the bounds.
AVRO_ONLY = AvroCodec(CATALOGUE, limits=None)

# The Avro specification's CRC-64-AVRO test vectors (schema-tests.txt), as signed longs.
SPEC_VECTORS = {"null": 7195948357588979594, "boolean": -6970731678124411036,
                "int": 8247732601305521295, "long": -3434872931120570953,
                "float": 5583340709985441680, "double": -8181574048448539266,
                "bytes": 5746618253357095269, "string": -8142146995180207161}


@pytest.mark.parametrize(("schema", "expected"), sorted(SPEC_VECTORS.items()))
def test_fingerprint_matches_the_spec_vectors(schema: str, expected: int) -> None:
    value = fingerprint(to_parsing_canonical_form(parse_schema(schema)), "CRC-64-AVRO")
    assert int.from_bytes(bytes.fromhex(value), "little", signed=True) == expected


@pytest.mark.parametrize("name", CATALOGUE.names)
def test_every_schema_round_trips_generated_records(name: str) -> None:
    parsed = CATALOGUE.latest(name).parsed
    for record in generate_many(parsed, 50):
        data = AVRO_ONLY.encode(name, record)
        decoded = AVRO_ONLY.decode(data)
        assert decoded.schema == name and decoded.framing == "single-object"
        # Generated uuids may be bare hex; once decoded, values are canonical and stable.
        assert AVRO_ONLY.decode(AVRO_ONLY.encode(name, decoded.record)).record == decoded.record


@pytest.mark.parametrize("event", every_event(), ids=lambda e: e.event_type)
def test_every_event_type_round_trips_through_its_model(event: object) -> None:
    data = CODEC.encode(event.schema_name, event.to_avro())  # type: ignore[attr-defined]
    decoded = CODEC.decode(data)
    assert event_from_avro(decoded.schema, decoded.record) == event


def test_golden_single_object_bytes() -> None:
    event = every_event()[0]
    data = CODEC.encode(event.schema_name, event.to_avro())
    assert data.hex() == (GOLDEN / "task_created.v2.soe.hex").read_text().strip()
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == CATALOGUE.latest("task_event").fingerprint


def test_bytes_written_before_maps_were_sorted_still_decode_to_the_same_event() -> None:
    # Written before the vector clock's entries were sorted: the same event, other bytes.
    data = bytes.fromhex((GOLDEN / "task_created.v2.unsorted-map.soe.hex").read_text().strip())
    decoded = CODEC.decode(data)
    assert list(decoded.record["vector_clock"]) == ["tablet-7", "epic-adapter"]
    assert event_from_avro(decoded.schema, decoded.record) == every_event()[0]


def test_golden_v1_bytes_still_decode_to_the_same_event() -> None:
    # Written by the v1 SDK (before sealed_phi): resolved into v2, the field is null.
    data = bytes.fromhex((GOLDEN / "task_created.v1.soe.hex").read_text().strip())
    assert data[2:10] == CATALOGUE.versions("task_event")[0].fingerprint
    decoded = CODEC.decode(data)
    assert decoded.record["task"]["patient"]["sealed_phi"] is None
    assert event_from_avro(decoded.schema, decoded.record) == every_event()[0]


def test_confluent_framing_through_a_registry(schema_registry: tuple[str, object]) -> None:
    url, _ = schema_registry
    codec = AvroCodec(CATALOGUE, registry=ConfluentSchemaRegistry(url))
    event = every_event()[0]
    data = codec.encode(event.schema_name, event.to_avro())
    golden = bytes.fromhex((GOLDEN / "task_created.v2.soe.hex").read_text().strip())
    assert data == b"\x00" + struct.pack(">I", 1) + golden[10:]
    decoded = AvroCodec(CATALOGUE, registry=ConfluentSchemaRegistry(url)).decode(data)
    assert decoded.framing == "confluent"
    assert event_from_avro(decoded.schema, decoded.record) == event
    # The default codec still reads both framings it can resolve, and says why it cannot.
    with pytest.raises(UnknownSchemaError, match="no schema registry"):
        CODEC.decode(data)


def test_a_consumer_with_only_fastavro_and_the_avsc_files_decodes_sdk_bytes() -> None:
    event = every_event()[3]
    data = CODEC.encode(event.schema_name, event.to_avro())
    # No project code from here: read the .avsc files, compute fingerprints, decode.
    schemas = {}
    for path in default_schemas_dir().glob("*/v*.avsc"):
        parsed = parse_schema(json.loads(path.read_text()))
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        schemas[fp] = parsed
    assert data[:2] == b"\xc3\x01"
    record = schemaless_reader(io.BytesIO(data[10:]), schemas[data[2:10]], None)
    assert record["event_id"] == event.event_id
    assert record["event_type"] == "TASK_STATUS_CHANGED"
    assert record["payload"]["status"] == "BLOCKED"


def test_bytes_written_with_only_fastavro_decode_with_the_sdk() -> None:
    raw = json.loads((default_schemas_dir() / "task_event" / "v1.avsc").read_text())
    parsed = parse_schema(raw)
    record = every_event()[1].to_avro()
    body = io.BytesIO()
    schemaless_writer(body, parsed, record)
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    decoded = CODEC.decode(b"\xc3\x01" + fp + body.getvalue())
    assert event_from_avro(decoded.schema, decoded.record) == every_event()[1]


def test_the_apache_avro_library_decodes_the_sdk_body() -> None:
    event = every_event()[0]
    data = CODEC.encode(event.schema_name, event.to_avro())
    text = (default_schemas_dir() / "task_event" / "v2.avsc").read_text()
    reader = avro.io.DatumReader(avro.schema.parse(text))
    record = reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert str(record["event_id"]) == str(event.event_id)
    assert record["task"]["patient"]["mrn"] == event.task.patient.mrn
    assert record["payload"]["emr_reference"] == "ORD-1"


@pytest.mark.parametrize(("data", "error", "message"), [
    (b"", TruncatedMessageError, "empty"),
    (b"\xc3\x01\x00\x01", TruncatedMessageError, "shorter than 10"),
    (b"\xc3\x01" + b"\x00" * 8 + b"x", UnknownSchemaError, "unknown schema fingerprint"),
    (b"\x00\x00\x00", TruncatedMessageError, "shorter than 5"),
    (b'{"json": 1}', UnknownSchemaError, "unknown framing"),
])
def test_framing_errors(data: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        CODEC.decode(data)


def test_body_errors_are_truncation_or_mismatch() -> None:
    event = every_event()[0]
    data = CODEC.encode(event.schema_name, event.to_avro())
    for cut in (11, 40, len(data) - 1):
        with pytest.raises(TruncatedMessageError):
            CODEC.decode(data[:cut])
    with pytest.raises(SchemaMismatchError, match="bytes left"):
        CODEC.decode(data + b"\x00\x00")
    # A body written for another schema, under this schema's fingerprint.
    other = CODEC.encode("handover_event", every_event()[7].to_avro())
    with pytest.raises((SchemaMismatchError, TruncatedMessageError)):
        CODEC.decode(data[:10] + other[10:])


def test_encode_refuses_a_record_that_does_not_match_without_quoting_values() -> None:
    record = every_event()[0].to_avro()
    record["task"]["patient"]["mrn"] = 12345  # not a string
    record["occurred_at"] = "Jane Doe"
    with pytest.raises(EncodeError) as info:
        CODEC.encode("task_event", record)
    assert "Jane" not in str(info.value) and "12345" not in str(info.value)


def test_phi_fields_are_marked_in_the_schemas() -> None:
    paths = phi_paths(CATALOGUE.latest("task_event").raw)
    assert {"PatientSnapshot.mrn", "PatientSnapshot.first_name", "PatientSnapshot.last_name",
            "PatientSnapshot.date_of_birth", "TaskCreated.description"} <= paths
    assert "UserSnapshot.username" not in paths


def _evolved(tmp_path: Path) -> Path:
    """A schemas folder with task_event v3: a new optional envelope field."""
    folder = tmp_path / "schemas"
    shutil.copytree(default_schemas_dir(), folder)
    raw = json.loads((folder / "task_event" / "v2.avsc").read_text())
    raw["fields"].insert(-1, {"name": "tenant", "type": ["null", "string"], "default": None,
                              "doc": "Hospital tenant."})
    (folder / "task_event" / "v3.avsc").write_text(json.dumps(raw))
    return folder


def test_new_reader_reads_old_writer(tmp_path: Path) -> None:
    new = AvroCodec(SchemaCatalogue(_evolved(tmp_path)))
    old_bytes = CODEC.encode("task_event", every_event()[0].to_avro())
    decoded = new.decode(old_bytes)
    assert decoded.record["tenant"] is None
    assert decoded.record["event_id"] == every_event()[0].event_id


def test_old_reader_reads_new_writer(tmp_path: Path,
                                     schema_registry: tuple[str, object]) -> None:
    url, _ = schema_registry
    new = AvroCodec(SchemaCatalogue(_evolved(tmp_path)), registry=ConfluentSchemaRegistry(url))
    record = every_event()[0].to_avro() | {"tenant": "north"}
    data = new.encode("task_event", record)
    # An old consumer (up to v2) learns v3 from the registry and resolves it to v2.
    old = AvroCodec(CATALOGUE, registry=ConfluentSchemaRegistry(url))
    decoded = old.decode(data)
    assert "tenant" not in decoded.record
    assert event_from_avro(decoded.schema, decoded.record) == every_event()[0]
