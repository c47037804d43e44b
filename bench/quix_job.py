"""The same job with Quix Streams and its PostgreSQL sink (runs in bench/.venv-quix).

Decodes the Avro single-object messages with fastavro and the .avsc files, and upserts
one row per aggregate (latest values) into one table per topic. It cannot express the
rest of the job (per-field merges, vector clocks, identities, audit, ledger).
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form
from quixstreams import Application
from quixstreams.models.serializers import Deserializer
from quixstreams.sinks.community.postgresql import PostgreSQLSink

SCHEMAS = {}
for path in (Path(__file__).resolve().parents[1] / "schemas").glob("*/v*.avsc"):
    parsed = parse_schema(json.loads(path.read_text()))
    SCHEMAS[bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))] = parsed


class AvroSingleObject(Deserializer):
    def __call__(self, value: bytes, ctx: object) -> dict:
        record = schemaless_reader(io.BytesIO(value[10:]), SCHEMAS[value[2:10]], None)
        return {"id": str(record["aggregate_id"]), "event_type": record["event_type"],
                "hlc": record["hlc"]["physical_us"], "origin_node": record["origin_node"],
                "payload": json.dumps(record["payload"], default=str)}


def main(bootstrap: str, topics: list[str], group: str, host: str, port: int, db: str) -> None:
    app = Application(broker_address=bootstrap, consumer_group=group,
                      auto_offset_reset="earliest", commit_interval=1.0)
    sink = PostgreSQLSink(host=host, port=port, dbname=db, user="postgres", password="",
                          table_name=lambda item: "quix_" + item.value["event_type"].split("_")[0]
                          .lower(), primary_key_columns="id", upsert_on_primary_key=True)
    for name in topics:
        app.dataframe(app.topic(name, value_deserializer=AvroSingleObject())).sink(sink)
    app.run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4], int(sys.argv[5]),
         sys.argv[6])
