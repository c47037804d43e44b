"""Dead-lettering: poison records go to ``<topic>.dlq`` with their original bytes and a reason."""

from __future__ import annotations

import time
from collections.abc import Sequence

from streams.kafka.producer import EventProducer
from streams.sink.records import Poison
from streams.topology import dead_letter_topic

__all__ = ["DLQ_HEADER_PREFIX", "dead_letter"]

#: Every error header starts with this; the original headers are kept as they were.
DLQ_HEADER_PREFIX = "emr.dlq."


def _headers(poison: Poison) -> list[tuple[str, bytes | None]]:
    record = poison.record
    extra = {
        "reason": poison.reason,
        "error_class": poison.error_class,
        "stage": poison.stage,
        "topic": record.topic,
        "partition": str(record.partition),
        "offset": str(record.offset),
        "dead_lettered_at_ms": str(int(time.time() * 1000)),
    }
    return [*record.headers, *((DLQ_HEADER_PREFIX + k, v.encode()) for k, v in extra.items())]


def dead_letter(producer: EventProducer, poison: Sequence[Poison]) -> None:
    """Write *poison* to their dead-letter topics and wait until the broker has them all.

    Raises ProduceError when a message is not delivered; the caller must then not
    acknowledge the source records (they will be read and dead-lettered again).
    """
    for item in poison:
        record = item.record
        producer.produce(dead_letter_topic(record.topic), key=record.key, value=record.value,
                         headers=_headers(item), timestamp_ms=record.timestamp_ms)
    if poison:
        producer.flush()
