"""A confluent-kafka group consumer that yields records and commits exactly what it is told."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streams.kafka.errors import KafkaLayerError
from streams.sink.records import ConsumedRecord, normalize_headers

__all__ = ["RecordConsumer"]


class ConsumeError(KafkaLayerError):
    """The broker reported an error for the consumer."""


class RecordConsumer:
    """Manual-commit consumer: nothing is committed unless ``commit`` is called for it."""

    def __init__(self, client_config: Mapping[str, str], *, group_id: str,
                 topics: Sequence[str], auto_offset_reset: str = "earliest") -> None:
        self._consumer = Consumer({**client_config, "group.id": group_id,
                                   "enable.auto.commit": False,
                                   "auto.offset.reset": auto_offset_reset})
        self._consumer.subscribe(list(topics))

    def poll(self, timeout: float) -> ConsumedRecord | None:
        """The next record, or None after *timeout* seconds."""
        message = self._consumer.poll(timeout)
        if message is None:
            return None
        error = message.error()
        if error is not None:
            if error.retriable() or not error.fatal():
                return None
            raise ConsumeError(f"consumer error: {error.str()}")
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        _, timestamp = message.timestamp()
        return ConsumedRecord(topic=topic, partition=partition, offset=offset,
                              key=message.key(), value=message.value(),
                              headers=normalize_headers(message.headers()),
                              timestamp_ms=timestamp if timestamp > 0 else None)

    def commit(self, record: ConsumedRecord) -> None:
        """Commit the position after *record* (synchronously)."""
        try:
            self._consumer.commit(offsets=[TopicPartition(record.topic, record.partition,
                                                          record.offset + 1)],
                                  asynchronous=False)
        except KafkaException as exc:
            raise ConsumeError(f"commit failed: {exc}") from exc

    def close(self) -> None:
        self._consumer.close()
