"""Committed offsets, end offsets and lag of a consumer group, per partition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from streams.kafka.errors import KafkaAdminError

__all__ = ["PartitionLag", "group_lag"]


@dataclass(frozen=True)
class PartitionLag:
    """One partition's committed offset (None: nothing committed), end offset and lag."""

    topic: str
    partition: int
    committed: int | None
    end: int
    start: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed if self.committed is not None else self.start)


_COORDINATOR_MOVING = frozenset({KafkaError.NOT_COORDINATOR,
                                 KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                 KafkaError.COORDINATOR_NOT_AVAILABLE})


def _coordinator_moving(exc: BaseException) -> bool:
    """The group coordinator is loading or moving (a fresh or restarted broker): retry."""
    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    error = exc.args[0]
    return isinstance(error, KafkaError) and (error.code() in _COORDINATOR_MOVING
                                              or error.retriable())


def group_lag(client_config: Mapping[str, str], group_id: str, topic: str, *,
              timeout: float = 10.0) -> list[PartitionLag]:
    """Read the group's committed offsets and the topic's watermarks (joins no group).

    Retries while the group coordinator is loading or moving (up to about *timeout*).
    """
    retrying = Retrying(retry=retry_if_exception(_coordinator_moving),
                        wait=wait_exponential_jitter(multiplier=0.1, max=2.0, jitter=0.1),
                        stop=stop_after_delay(timeout), reraise=True)
    try:
        return retrying(_group_lag, client_config, group_id, topic, timeout=timeout)
    except KafkaException as exc:
        raise KafkaAdminError(f"cannot read offsets of group {group_id}: {exc}") from exc


def _group_lag(client_config: Mapping[str, str], group_id: str, topic: str, *,
               timeout: float) -> list[PartitionLag]:
    consumer = Consumer({**client_config, "group.id": group_id, "enable.auto.commit": False,
                         "log_level": 0})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            raise KafkaAdminError(f"topic {topic} not found")
        partitions = [TopicPartition(topic, p) for p in sorted(info.partitions)]
        committed = consumer.committed(partitions, timeout=timeout)
        result = []
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            offset = None if tp.offset == OFFSET_INVALID or tp.offset < 0 else tp.offset
            result.append(PartitionLag(topic, tp.partition, offset, high, low))
        return result
    finally:
        consumer.close()
