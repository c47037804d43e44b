"""The naive consumer: confluent-kafka, one INSERT … ON CONFLICT and one commit per message."""

from __future__ import annotations

import sys
import time

import psycopg
from confluent_kafka import Consumer

from streams.contracts import AvroCodec, DecodeError, SchemaCatalogue
from streams.contracts.models import event_from_avro

DDL = """CREATE TABLE IF NOT EXISTS bench_naive (id uuid PRIMARY KEY, event_type text,
         hlc bigint, payload jsonb)"""
UPSERT = """INSERT INTO bench_naive VALUES (%s, %s, %s, %s::jsonb)
            ON CONFLICT (id) DO UPDATE SET event_type = excluded.event_type,
            hlc = excluded.hlc, payload = excluded.payload WHERE bench_naive.hlc <= excluded.hlc"""


def main(bootstrap: str, topics: list[str], url: str, limit: int) -> None:
    codec = AvroCodec(SchemaCatalogue())
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"naive-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(topics)
    done = 0
    with psycopg.connect(url) as conn:
        conn.execute(DDL)
        conn.commit()
        started = None
        while done < limit:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            started = started or time.perf_counter()
            try:
                decoded = codec.decode(message.value())
                event = event_from_avro(decoded.schema, decoded.record)
                conn.execute(UPSERT, (event.aggregate_id, event.event_type,
                                      event.hlc.physical_us, event.model_dump_json()))
            except DecodeError:
                pass
            conn.commit()
            consumer.commit(message=message, asynchronous=False)
            done += 1
    consumer.close()
    elapsed = time.perf_counter() - (started or time.perf_counter())
    print(f"{done} {elapsed:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","), sys.argv[3], int(sys.argv[4]))
