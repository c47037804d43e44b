"""Replay a topic's records into the database (the one apply path) or into another topic."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from psycopg_pool import ConnectionPool

from streams.config import Settings
from streams.contracts.codec import AvroCodec
from streams.contracts.models import event_from_avro
from streams.db.reachability import check_reachable
from streams.errors import StreamsError
from streams.kafka.producer import EventProducer
from streams.kafka.reader import PartitionRange, RangeReader
from streams.kafka.schema_registry import codec_for
from streams.phi import PhiSealer
from streams.runtime import tune_garbage_collector
from streams.sink.processor import BatchProcessor
from streams.sink.records import ConsumedRecord
from streams.timefmt import utc_iso_ms

__all__ = ["ReplayError", "ReplayPlan", "ReplayResult", "plan_replay", "run_replay"]

logger = logging.getLogger(__name__)

Into = Literal["database", "topic"]


class ReplayError(StreamsError):
    """A replay was asked for something impossible (bad range, missing target)."""


@dataclass
class ReplayPlan:
    """What to replay, where to, and how far it got (the resumable checkpoint)."""

    topic: str
    into: Into
    ranges: list[PartitionRange]
    target_topic: str | None = None
    next_offsets: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(r.size for r in self.ranges)

    @property
    def done(self) -> int:
        return sum(min(self.next_offsets.get(r.partition, r.start), r.end) - r.start
                   for r in self.ranges)

    def remaining(self) -> list[PartitionRange]:
        return [PartitionRange(r.partition, max(r.start, self.next_offsets.get(r.partition,
                                                                                r.start)), r.end)
                for r in self.ranges]

    def save(self, path: Path) -> None:
        """Write the checkpoint atomically."""
        data = {"topic": self.topic, "into": self.into, "target_topic": self.target_topic,
                "ranges": [asdict(r) for r in self.ranges],
                "next_offsets": {str(k): v for k, v in self.next_offsets.items()}}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> ReplayPlan:
        try:
            data = json.loads(path.read_text())
            return cls(topic=data["topic"], into=data["into"], target_topic=data["target_topic"],
                       ranges=[PartitionRange(**r) for r in data["ranges"]],
                       next_offsets={int(k): int(v) for k, v in data["next_offsets"].items()})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReplayError(f"cannot read checkpoint {path}: {exc}") from exc


@dataclass
class ReplayResult:
    """Counts of a replay (or of a dry run)."""

    read: int = 0
    applied: int = 0
    stale: int = 0
    concurrent: int = 0
    duplicates: int = 0
    poison: int = 0
    produced: int = 0
    sample: list[dict[str, object]] = field(default_factory=list)


def plan_replay(reader: RangeReader, *, into: Into, target_topic: str | None = None,
                partitions: list[int] | None = None, from_offset: int | None = None,
                from_timestamp_ms: int | None = None, to_offset: int | None = None,
                to_timestamp_ms: int | None = None) -> ReplayPlan:
    """Resolve the options to offset ranges (the end defaults to each partition's end now)."""
    if into == "topic" and not target_topic:
        raise ReplayError("--into topic needs --target-topic")
    if into == "topic" and target_topic == reader.topic:
        raise ReplayError("the target topic must differ from the source topic")
    available = reader.partitions()
    chosen = partitions if partitions is not None else available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise ReplayError(f"{reader.topic} has no partition {unknown[0]} "
                          f"(it has {len(available)})")
    ranges = []
    for p in chosen:
        low, high = reader.watermarks(p)
        start = low
        if from_offset is not None:
            start = max(low, from_offset)
        elif from_timestamp_ms is not None:
            start = reader.offset_for_time(p, from_timestamp_ms)
        end = high
        if to_offset is not None:
            end = min(high, to_offset)
        elif to_timestamp_ms is not None:
            end = reader.offset_for_time(p, to_timestamp_ms)
        ranges.append(PartitionRange(p, start, max(start, end)))
    return ReplayPlan(topic=reader.topic, into=into, ranges=ranges, target_topic=target_topic)


def _sample(record: ConsumedRecord, codec: AvroCodec) -> dict[str, object]:
    entry: dict[str, object] = {"partition": record.partition, "offset": record.offset,
                                "timestamp": utc_iso_ms(record.timestamp_ms)}
    try:
        decoded = codec.decode(record.value)
        event = event_from_avro(decoded.schema, decoded.record)
        entry |= {"event_type": event.event_type, "event_id": str(event.event_id),
                  "aggregate_id": str(event.aggregate_id)}
    except Exception as exc:  # a sample: whatever one absurd record does, it is only shown
        entry["undecodable"] = type(exc).__name__
    return entry


def run_replay(settings: Settings, plan: ReplayPlan, *, checkpoint: Path | None = None,
               dry_run: bool = False, rate: float | None = None, batch_size: int = 1000,
               on_progress: Callable[[int], None] = lambda n: None) -> ReplayResult:
    """Replay *plan*; save the checkpoint after every batch that is durable.

    Into the database, batches go through the same apply path as the processor (so a
    replay is idempotent and audited: an event already applied changes nothing); poison is
    counted and recorded in the target database's ``dead_letters`` (so every record read
    is in one place there), but not written to a dead-letter topic again. Into a topic,
    records keep their key, headers and timestamp. Interrupted (Ctrl-C, crash), the replay
    resumes from the checkpoint.
    """
    result = ReplayResult()
    codec = codec_for(settings)
    started = time.monotonic()
    pool: ConnectionPool | None = None
    producer: EventProducer | None = None
    processor: BatchProcessor | None = None
    if not dry_run:
        if plan.into == "database":
            # A person runs this: an unreachable database is an error within
            # EMR_STREAMS_COMMAND_TIMEOUT, with its reason, not an endless wait.
            bound = settings.command.timeout
            check_reachable(settings.database_url, timeout=bound)
            pool = ConnectionPool(settings.database_url, min_size=1, max_size=2,
                                  kwargs={"autocommit": True,
                                          "connect_timeout": max(2, int(bound))},
                                  timeout=bound, open=True)
            processor = BatchProcessor(pool, None, codec, phi=PhiSealer.for_sink(settings),
                                       plaintext_phi=settings.phi.publish_plaintext,
                                       give_up_after=bound, max_backoff=min(30.0, bound))
            tune_garbage_collector()
        else:
            producer = EventProducer(settings.librdkafka())
    try:
        with RangeReader(settings.librdkafka(), plan.topic) as reader:
            for batch in reader.read(plan.remaining(), batch_size=batch_size):
                result.read += len(batch)
                if dry_run:
                    result.sample.extend(_sample(r, codec)
                                         for r in batch[:max(0, 5 - len(result.sample))])
                elif processor is not None:
                    outcome = processor.process(batch)
                    result.applied += outcome.applied
                    result.stale += outcome.stale
                    result.concurrent += outcome.concurrent
                    result.duplicates += outcome.duplicates
                    result.poison += len(outcome.poison)
                elif producer is not None and plan.target_topic is not None:
                    for r in batch:
                        producer.produce(plan.target_topic, key=r.key, value=r.value,
                                         headers=list(r.headers), timestamp_ms=r.timestamp_ms)
                    producer.flush()
                    result.produced += len(batch)
                for r in batch:
                    plan.next_offsets[r.partition] = max(plan.next_offsets.get(r.partition, 0),
                                                         r.offset + 1)
                if checkpoint is not None and not dry_run:
                    plan.save(checkpoint)
                on_progress(len(batch))
                if rate:
                    ahead = result.read / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
    finally:
        if pool is not None:
            pool.close()
    return result
