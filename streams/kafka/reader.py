"""Read fixed offset ranges of a topic's partitions (replay, dead-letter browsing)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streams.kafka.errors import KafkaAdminError, kafka_reason
from streams.sink.records import ConsumedRecord, normalize_headers

__all__ = ["PartitionRange", "RangeReader"]


@dataclass(frozen=True)
class PartitionRange:
    """Offsets [start, end) of one partition."""

    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


class RangeReader:
    """Assigns partitions directly (no group membership, no commits) and reads ranges."""

    def __init__(self, client_config: Mapping[str, str], topic: str) -> None:
        self.topic = topic
        self._consumer = Consumer({**client_config, "group.id": f"emr-reader-{uuid.uuid4()}",
                                   "enable.auto.commit": False, "log_level": 0,
                                   "enable.partition.eof": False})

    def __enter__(self) -> RangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._consumer.close()

    def partitions(self) -> list[int]:
        """The topic's partitions; KafkaAdminError if the topic does not exist or the
        cluster does not answer."""
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=10)
        except KafkaException as exc:
            raise KafkaAdminError(f"cannot read the metadata of {self.topic}: "
                                  f"{kafka_reason(exc)}") from exc
        info = metadata.topics.get(self.topic)
        if info is None or info.error is not None or not info.partitions:
            raise KafkaAdminError(f"topic {self.topic} not found")
        return sorted(info.partitions)

    def watermarks(self, partition: int) -> tuple[int, int]:
        """(earliest offset, end offset) of a partition."""
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=10, cached=False)
        except KafkaException as exc:
            raise KafkaAdminError(f"cannot read the offsets of {self.topic}[{partition}]: "
                                  f"{kafka_reason(exc)}") from exc
        return int(low), int(high)

    def offset_for_time(self, partition: int, timestamp_ms: int) -> int:
        """The first offset whose timestamp is >= *timestamp_ms* (the end if none)."""
        try:
            [found] = self._consumer.offsets_for_times(
                [TopicPartition(self.topic, partition, timestamp_ms)], timeout=10)
        except KafkaException as exc:
            raise KafkaAdminError(f"offsets_for_times failed: {exc}") from exc
        return int(found.offset) if found.offset >= 0 else self.watermarks(partition)[1]

    def read(self, ranges: list[PartitionRange], *, batch_size: int = 500,
             idle_seconds: float = 10.0) -> Iterator[list[ConsumedRecord]]:
        """Yield batches of the records in *ranges*, in offset order per partition."""
        pending = {r.partition: r for r in ranges if r.size > 0}
        if not pending:
            return
        self._consumer.assign([TopicPartition(self.topic, r.partition, r.start)
                               for r in pending.values()])
        idle_since = time.monotonic()
        while pending:
            messages = self._consumer.consume(num_messages=batch_size, timeout=1.0)
            batch = []
            for message in messages:
                if message.error() is not None:
                    continue
                partition, offset = message.partition(), message.offset()
                if partition is None or offset is None:
                    continue
                span = pending.get(partition)
                if span is None or offset >= span.end:
                    continue
                _, timestamp = message.timestamp()
                batch.append(ConsumedRecord(
                    topic=self.topic, partition=partition, offset=offset, key=message.key(),
                    value=message.value(), headers=normalize_headers(message.headers()),
                    timestamp_ms=timestamp if timestamp > 0 else None))
            if batch:
                idle_since = time.monotonic()
                yield batch
            self._finish(pending, idle=time.monotonic() - idle_since > idle_seconds)

    def _finish(self, pending: dict[int, PartitionRange], *, idle: bool) -> None:
        """Drop partitions whose position reached their end (gaps from compaction or
        transaction markers included)."""
        position = {tp.partition: tp.offset for tp in self._consumer.position(
            [TopicPartition(self.topic, p) for p in pending])}
        done = [p for p, offset in position.items() if offset >= 0 and offset >= pending[p].end]
        if idle:
            done += [p for p in pending if self.watermarks(p)[1] <= position.get(p, -1)]
        for partition in set(done):
            pending.pop(partition, None)
        if done:
            self._consumer.incremental_unassign([TopicPartition(self.topic, p)
                                                 for p in set(done)])
