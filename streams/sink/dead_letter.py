"""Dead-lettering: poison records go to ``<topic>.dlq`` with their original bytes and a reason.

A value too large for the dead-letter topic (it was refused for its size, most likely) is
left out: the dead letter then carries the reason, ``emr.dlq.value_omitted`` (the value's
size in bytes) and the source topic, partition and offset, where the bytes still are.
"""

from __future__ import annotations

from collections.abc import Sequence

from streams import clock
from streams.kafka.producer import EventProducer
from streams.sink.records import Poison
from streams.topology import dead_letter_topic

__all__ = ["DLQ_HEADER_PREFIX", "DLQ_MAX_VALUE_BYTES", "VALUE_OMITTED_HEADER", "dead_letter"]

#: Every error header starts with this; the original headers are kept as they were.
DLQ_HEADER_PREFIX = "emr.dlq."

#: Largest value a dead letter carries: librdkafka's default message.max.bytes (1,000,000)
#: less room for the key and headers. A larger value would make the producer refuse the
#: dead letter, and the worker would then fail on the same record forever.
DLQ_MAX_VALUE_BYTES = 900_000

#: Present (the original size in bytes) when a dead letter was written without its value.
VALUE_OMITTED_HEADER = DLQ_HEADER_PREFIX + "value_omitted"


def _headers(poison: Poison, *, omitted: bool) -> list[tuple[str, bytes | None]]:
    record = poison.record
    extra = {
        "reason": poison.reason,
        "error_class": poison.error_class,
        "stage": poison.stage,
        "topic": record.topic,
        "partition": str(record.partition),
        "offset": str(record.offset),
        "dead_lettered_at_ms": str(clock.now_us() // 1000),
    }
    if omitted:
        extra["value_omitted"] = str(len(record.value or b""))
    return [*record.headers, *((DLQ_HEADER_PREFIX + k, v.encode()) for k, v in extra.items())]


def dead_letter(producer: EventProducer, poison: Sequence[Poison], *,
                max_value_bytes: int = DLQ_MAX_VALUE_BYTES) -> None:
    """Write *poison* to their dead-letter topics and wait until the broker has them all.

    A value larger than *max_value_bytes* is left out of its dead letter (see the module
    docstring). Raises ProduceError when a message is not delivered; the caller must then
    not acknowledge the source records (they will be read and dead-lettered again).
    """
    for item in poison:
        record = item.record
        omitted = len(record.value or b"") > max_value_bytes
        producer.produce(dead_letter_topic(record.topic), key=record.key,
                         value=None if omitted else record.value,
                         headers=_headers(item, omitted=omitted),
                         timestamp_ms=record.timestamp_ms)
    if poison:
        producer.flush()
