"""Conformance vectors (``schemas/vectors``): one event per schema version and event type,
as Avro JSON, its exact single-object bytes, and the state the processor publishes for it.

Regenerate them (after a deliberate change, reviewed like a schema change) with
``.venv/bin/python -m tests.conformance <migrated database url>``.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import fastavro
import psycopg

from streams.contracts import AvroCodec, SchemaCatalogue
from streams.contracts.models import AnyEvent
from streams.sink import ConsumedRecord, apply_batch
from tests.unit.events_fixtures import every_event

VECTORS = Path(__file__).parents[1] / "schemas" / "vectors"
CATALOGUE = SchemaCatalogue()


def event_json(event: AnyEvent, version: int) -> Any:
    """*event* in Avro's JSON encoding with schema version *version* (unions tagged)."""
    schema = next(v for v in CATALOGUE.versions(event.schema_name) if v.version == version)
    out = io.StringIO()
    fastavro.json_writer(out, schema.parsed, [event.to_avro()], write_union_type=True)
    return json.loads(out.getvalue())


def record_from_json(name: str, version: int, document: Any) -> dict[str, Any]:
    """The record an Avro JSON document encodes (the Avro spec's JSON encoding)."""
    schema = next(v for v in CATALOGUE.versions(name) if v.version == version)
    records = list(fastavro.json_reader(io.StringIO(json.dumps(document)), schema.parsed))
    assert len(records) == 1
    return records[0]  # type: ignore[no-any-return]


def single_object(name: str, version: int, record: dict[str, Any]) -> bytes:
    """*record* in Avro single-object encoding with version *version* as the writer."""
    return AvroCodec(CATALOGUE, versions={name: version}).encode(name, record)


def outcome(conn: psycopg.Connection[Any], data: bytes, aggregate_id: str) -> Any:
    """The state the processor publishes for this one event on an empty database."""
    with conn.transaction(force_rollback=True):
        result = apply_batch(conn, [ConsumedRecord(topic="vectors", partition=0, offset=0,
                                                   key=aggregate_id.encode(), value=data)],
                             codec=AvroCodec(CATALOGUE))
        assert result.poison == [] and result.applied == 1, result
        row = conn.execute("SELECT state FROM state_outbox WHERE aggregate_id = %s",
                           (aggregate_id,)).fetchone()
    assert row is not None
    return row[0]


def stored_vectors() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, json.loads(path.read_text()))
            for path in sorted(VECTORS.glob("*/v*/*.json"))]


def write_vectors(url: str) -> int:
    """Write every vector (each event type, each schema version); return how many."""
    written = 0
    with psycopg.connect(url) as conn:
        for n, event in enumerate(every_event()):
            for schema in CATALOGUE.versions(event.schema_name):
                document = event_json(event, schema.version)
                record = record_from_json(event.schema_name, schema.version, document)
                data = single_object(event.schema_name, schema.version, record)
                vector = {"schema": event.schema_name, "version": schema.version,
                          "event_type": event.event_type,
                          "fingerprint": schema.fingerprint.hex(), "event": document,
                          "single_object_hex": data.hex(),
                          "state": outcome(conn, data, str(event.aggregate_id))}
                path = (VECTORS / event.schema_name / f"v{schema.version}"
                        / f"{n:02d}_{event.event_type}.json")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(vector, indent=2, sort_keys=True) + "\n")
                written += 1
    return written


if __name__ == "__main__":
    print(f"wrote {write_vectors(sys.argv[1])} vectors to {VECTORS}")
