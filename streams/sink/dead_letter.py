"""Dead letters: the one owner of their format, written here and parsed here.

A dead letter on ``<topic>.dlq`` carries the record's original key, value and headers, then
the dead letter's own headers, ``emr.dlq.<field>`` (:data:`FIELDS`). Its own metadata is
authoritative and cannot be forged: an original header whose name starts with
``emr.dlq.`` is renamed to ``emr.original.emr.dlq.…`` before it is copied (and restored
by a redrive), and :func:`parse_letter` reads the dead letter's own fields only.

Every dead letter fits the topic as a whole (key + headers + value within
:data:`DLQ_MAX_BYTES`): whatever does not fit is left out — a value too large to fit even
alone, then the original headers, then the key, then the value — and
``emr.dlq.value_omitted`` / ``headers_omitted`` / ``key_omitted`` say what and how large;
the source topic, partition and offset say where the full record still is. A reason is
at most :data:`MAX_REASON_CHARS` characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams import clock
from streams.kafka.producer import EventProducer
from streams.sink.records import ConsumedRecord, Poison
from streams.topology import dead_letter_topic

__all__ = [
    "DLQ_HEADER_PREFIX", "DLQ_MAX_BYTES", "FIELDS", "ORIGINAL_PREFIX", "VALUE_OMITTED_HEADER",
    "LetterMeta",
    "dead_letter", "letter_headers", "original_headers", "parse_letter",
]

#: Every header of the dead letter's own starts with this.
DLQ_HEADER_PREFIX = "emr.dlq."
#: An original header that looked like one of ours is kept under this prefix.
ORIGINAL_PREFIX = "emr.original."
#: Present (the value's size in bytes) when the dead letter was written without its value.
VALUE_OMITTED_HEADER = DLQ_HEADER_PREFIX + "value_omitted"
#: The dead letter's own fields, in the order they are written.
FIELDS = ("reason", "error_class", "stage", "topic", "partition", "offset",
          "dead_lettered_at_ms", "value_omitted", "headers_omitted", "key_omitted")

#: Largest dead letter (key + header names and values + value): librdkafka's default
#: message.max.bytes (1,000,000) less room for the record's framing. A larger one would
#: make the producer refuse it, and the worker would then fail on the same record forever.
DLQ_MAX_BYTES = 900_000
#: Longest reason kept (characters): reasons are ours and short; this is the backstop.
MAX_REASON_CHARS = 2_000

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class LetterMeta:
    """What a dead letter says about itself (from its own headers only)."""

    reason: str
    error_class: str
    stage: str
    source_topic: str
    source_partition: int
    source_offset: int
    dead_lettered_at_ms: int | None
    value_omitted: int | None
    headers_omitted: int | None
    key_omitted: int | None


def _size(headers: Sequence[tuple[str, bytes | None]]) -> int:
    return sum(len(k.encode()) + len(v or b"") for k, v in headers)


def _renamed(headers: Sequence[tuple[str, bytes | None]]) -> Headers:
    return [(ORIGINAL_PREFIX + k if k.startswith((DLQ_HEADER_PREFIX, ORIGINAL_PREFIX)) else k,
             v) for k, v in headers]


def letter_headers(poison: Poison, *, max_bytes: int = DLQ_MAX_BYTES
                   ) -> tuple[bytes | None, Headers, bytes | None]:
    """The (key, headers, value) of *poison*'s dead letter, within *max_bytes* in all."""
    record = poison.record
    own: dict[str, str] = {
        "reason": poison.reason[:MAX_REASON_CHARS],
        "error_class": poison.error_class[:200],
        "stage": poison.stage[:50],
        "topic": record.topic,
        "partition": str(record.partition),
        "offset": str(record.offset),
        "dead_lettered_at_ms": str(clock.now_us() // 1000),
    }
    key, value, originals = record.key, record.value, _renamed(record.headers)

    def own_size() -> int:
        return sum(len(DLQ_HEADER_PREFIX) + len(k) + len(v.encode()) for k, v in own.items())

    def total() -> int:
        return len(key or b"") + len(value or b"") + _size(originals) + own_size() + 64

    # Keep what a redrive needs most: the value, then the key; the original headers go
    # first (a value that cannot fit even alone goes at once).
    if value is not None and len(value) + own_size() + 64 > max_bytes:
        own["value_omitted"], value = str(len(value)), None
    if total() > max_bytes and originals:
        own["headers_omitted"], originals = f"{len(originals)}:{_size(originals)}", []
    if total() > max_bytes and key is not None:
        own["key_omitted"], key = str(len(key)), None
    if total() > max_bytes and value is not None:
        own["value_omitted"], value = str(len(value)), None
    headers = [*originals, *((DLQ_HEADER_PREFIX + k, v.encode()) for k, v in own.items())]
    return key, headers, value


def _own(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    # Later headers win: the dead letter's own are written after the originals.
    return {k[len(DLQ_HEADER_PREFIX):]: (v or b"").decode(errors="replace")
            for k, v in headers if k.startswith(DLQ_HEADER_PREFIX)}


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    stripped = text.strip()
    return int(stripped) if stripped.lstrip("-").isdigit() and len(stripped) < 20 else None


def parse_letter(record: ConsumedRecord) -> LetterMeta:
    """What the dead letter *record* says about itself (missing fields: empty / None)."""
    own = _own(record.headers)
    partition, offset = _int(own.get("partition")), _int(own.get("offset"))
    return LetterMeta(
        reason=own.get("reason", ""), error_class=own.get("error_class", ""),
        stage=own.get("stage", ""), source_topic=own.get("topic", ""),
        source_partition=-1 if partition is None else partition,
        source_offset=-1 if offset is None else offset,
        dead_lettered_at_ms=_int(own.get("dead_lettered_at_ms")),
        value_omitted=_int(own.get("value_omitted")),
        headers_omitted=_int((own.get("headers_omitted") or "").split(":")[0] or None),
        key_omitted=_int(own.get("key_omitted")))


def original_headers(record: ConsumedRecord) -> Headers:
    """The headers the source record had: the dead letter's own dropped, renamed restored."""
    return [(k[len(ORIGINAL_PREFIX):] if k.startswith(ORIGINAL_PREFIX) else k, v)
            for k, v in record.headers if not k.startswith(DLQ_HEADER_PREFIX)]


def dead_letter(producer: EventProducer, poison: Sequence[Poison], *,
                max_bytes: int = DLQ_MAX_BYTES) -> None:
    """Write *poison* to their dead-letter topics and wait until the broker has them all.

    Raises ProduceError when a message is not delivered; the caller must then not
    acknowledge the source records (they will be read and dead-lettered again).
    """
    for item in poison:
        key, headers, value = letter_headers(item, max_bytes=max_bytes)
        producer.produce(dead_letter_topic(item.record.topic), key=key, value=value,
                         headers=headers, timestamp_ms=item.record.timestamp_ms)
    if poison:
        producer.flush()
