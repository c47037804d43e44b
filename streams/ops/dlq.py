"""Dead letters: browse them with their reasons, and redrive them once the cause is fixed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg

from streams.config import Settings
from streams.contracts.codec import AvroCodec
from streams.contracts.models import event_from_avro
from streams.kafka.producer import EventProducer
from streams.kafka.reader import PartitionRange, RangeReader
from streams.sink.dead_letter import LetterMeta, original_headers, parse_letter
from streams.sink.records import ConsumedRecord
from streams.timefmt import utc_iso_ms
from streams.topology import dead_letter_topic, input_topics

__all__ = ["DeadLetter", "read_dead_letters", "redrive", "redrive_target"]

REDRIVE_HEADER = "emr.redrive.from"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-letter record: where it is, what it says of itself, what it is if decodable."""

    dlq_topic: str
    partition: int
    offset: int
    record: ConsumedRecord = field(repr=False)
    meta: LetterMeta
    event_type: str | None
    event_id: str | None
    redriven: bool = False

    @property
    def position(self) -> str:
        return f"{self.dlq_topic}:{self.partition}:{self.offset}"

    @property
    def source(self) -> tuple[str, int, int]:
        m = self.meta
        return m.source_topic, m.source_partition, m.source_offset

    def summary(self) -> dict[str, object]:
        """The fields an operator sees (never the value: it may hold PHI)."""
        m = self.meta
        return {"position": self.position, "offset": self.offset, "reason": m.reason,
                "error_class": m.error_class, "stage": m.stage,
                "source": ":".join(map(str, self.source)),
                "dead_lettered_at": utc_iso_ms(m.dead_lettered_at_ms),
                "dead_lettered_at_ms": m.dead_lettered_at_ms, "event_type": self.event_type,
                "event_id": self.event_id, "redriven": self.redriven}


def _letter(record: ConsumedRecord, codec: AvroCodec, redriven: set[tuple[str, int, int]]
            ) -> DeadLetter:
    event_type = event_id = None
    try:
        decoded = codec.decode(record.value)
        event = event_from_avro(decoded.schema, decoded.record)
        event_type, event_id = event.event_type, str(event.event_id)
    except Exception:  # a dead letter is listed whatever its value does when decoded
        pass
    return DeadLetter(
        dlq_topic=record.topic, partition=record.partition, offset=record.offset,
        record=record, meta=parse_letter(record), event_type=event_type, event_id=event_id,
        redriven=(record.topic, record.partition, record.offset) in redriven)


def redrive_target(settings: Settings, letter: DeadLetter) -> str | None:
    """Where *letter* may be sent back to, or None: only to the input topic whose dead
    letter it is, and only to one of the project's input topics (never a state topic or
    any other topic a header names)."""
    target = letter.meta.source_topic
    if target not in input_topics(settings) or dead_letter_topic(target) != letter.dlq_topic:
        return None
    if letter.meta.source_partition < 0 or letter.meta.value_omitted is not None:
        return None  # no position, or no value to send (it is still at the source)
    return target


def _redriven(url: str, dlq_topic: str) -> set[tuple[str, int, int]]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        rows = conn.execute("SELECT dlq_topic, dlq_partition, dlq_offset FROM dlq_redrives "
                            "WHERE dlq_topic = %s", (dlq_topic,)).fetchall()
    return {(str(t), int(p), int(o)) for t, p, o in rows}


def read_dead_letters(settings: Settings, dlq_topic: str, codec: AvroCodec, *,
                      from_offset: int | None = None, to_offset: int | None = None
                      ) -> list[DeadLetter]:
    """Every dead letter of *dlq_topic* in [from_offset, to_offset), oldest first."""
    redriven = _redriven(settings.database_url, dlq_topic)
    letters: list[DeadLetter] = []
    with RangeReader(settings.librdkafka(), dlq_topic) as reader:
        ranges = []
        for p in reader.partitions():
            low, high = reader.watermarks(p)
            start = max(low, from_offset) if from_offset is not None else low
            end = min(high, to_offset) if to_offset is not None else high
            ranges.append(PartitionRange(p, start, max(start, end)))
        for batch in reader.read(ranges, idle_seconds=5):
            letters.extend(_letter(r, codec, redriven) for r in batch)
    return sorted(letters, key=lambda d: (d.partition, d.offset))


def redrive(settings: Settings, letters: Sequence[DeadLetter], *, force: bool = False,
            operator: str | None = None,
            on_progress: Callable[[int], None] = lambda n: None) -> tuple[int, int]:
    """Send *letters* back to their source topics; return (redriven, skipped).

    Each record keeps its original key, value and headers (the dead letter's own
    ``emr.dlq.*`` headers are dropped, renamed originals restored, and ``emr.redrive.from``
    names the dead letter). A letter is sent only to :func:`redrive_target`; the others are
    skipped. Each redrive is a new row of ``dlq_redrives`` (append-only; the database
    stamps the role and time, *operator* is an optional note beside them), written in the
    same transaction that waits for the broker: a record already redriven — from this dead
    letter or from a repeat of it on the topic after a crash — is skipped unless *force*.
    A redriven event the processor applied before is a duplicate there and changes nothing.
    """
    producer = EventProducer(settings.librdkafka())
    done = skipped = 0
    with psycopg.connect(settings.database_url, connect_timeout=10) as conn, \
            conn.transaction():
        # One redrive at a time: the check for an earlier redrive of the same source
        # position and the record below must not interleave with another run's.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('emr_streams.dlq_redrive'))")
        sent: set[tuple[str, int, int]] = set()
        for letter in letters:
            target = redrive_target(settings, letter)
            source = letter.source
            if target is None or source in sent:
                skipped += 1  # nowhere to send it, or a repeat of a letter sent just now
                continue
            if not force and conn.execute(
                    "SELECT 1 FROM dlq_redrives WHERE source_topic = %s "
                    "AND source_partition = %s AND source_offset = %s", source).fetchone():
                skipped += 1  # this record was redriven before (maybe from a repeat)
                continue
            # Who and when are the server's (session_user, its clock): migration 0014.
            conn.execute(
                "INSERT INTO dlq_redrives (dlq_topic, dlq_partition, dlq_offset, target_topic,"
                " reason, source_topic, source_partition, source_offset, operator_note)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (letter.dlq_topic, letter.partition, letter.offset, target,
                 letter.meta.reason, *source, operator))
            headers = original_headers(letter.record)
            headers.append((REDRIVE_HEADER, letter.position.encode()))
            producer.produce(target, key=letter.record.key, value=letter.record.value,
                             headers=headers)
            sent.add(source)
            done += 1
            on_progress(1)
        producer.flush()
    return done, skipped
