"""A confluent-kafka producer that reports every delivery, with idempotence on."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from streams.kafka.errors import ProduceError, ProduceRefusedError

__all__ = ["EventProducer"]

logger = logging.getLogger(__name__)


#: Errors that say the message itself is refused: retrying it cannot help.
_REFUSED = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD,
                      KafkaError.INVALID_MSG, KafkaError.INVALID_MSG_SIZE})


class EventProducer:
    """Produce keyed events; ``flush`` raises if any message was not delivered."""

    def __init__(self, client_config: Mapping[str, str],
                 **overrides: str | int | float | bool) -> None:
        conf: dict[str, object] = {
            **client_config,
            # librdkafka's own log lines go through Python logging, not raw stderr.
            "logger": logging.getLogger("streams.kafka.librdkafka"),
            # Kafka's Java client partitions keyed records by murmur2: the same key lands on
            # the same partition whichever language produced it (librdkafka's default,
            # consistent_random, is CRC32 and disagrees). Null keys: a random partition.
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
        }
        conf.update(overrides)
        self._producer = Producer(conf)
        self.delivered = 0
        self._failures: list[str] = []
        self._refused = 0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()}: {err.str()}")
            if err.code() in _REFUSED:
                self._refused += 1
        else:
            self.delivered += 1

    def produce(self, topic: str, *, key: bytes | None, value: bytes | None,
                headers: Sequence[tuple[str, bytes | None]] | None = None,
                timestamp_ms: int | None = None, partition: int | None = None) -> None:
        """Queue one message; delivery is confirmed by ``poll`` or ``flush``.

        *partition* overrides the key's partition (replays and tests only: the processor
        relies on one aggregate's events sharing a partition only for speed, not for
        correctness).
        """
        while True:
            try:
                # timestamp 0 lets the client stamp the message with the current time.
                self._producer.produce(topic, value=value, key=key,
                                       headers=list(headers) if headers else None,
                                       timestamp=timestamp_ms or 0,
                                       partition=-1 if partition is None else partition,
                                       on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.1)  # local queue full: let deliveries drain
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.code() in _REFUSED:
                    raise ProduceRefusedError(f"{topic}: {error.str()}") from exc
                raise ProduceError(f"{topic}: {exc}") from exc
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every queued message; raise if any failed or is still queued.

        ProduceRefusedError when every failure is a refusal of the message itself (too
        large, invalid); ProduceError (retriable) otherwise.
        """
        remaining = self._producer.flush(timeout)
        if remaining:
            raise ProduceError(f"{remaining} message(s) not delivered within {timeout:.0f}s")
        if self._failures:
            failures, self._failures = self._failures, []
            refused, self._refused = self._refused, 0
            message = f"{len(failures)} message(s) failed: {failures[0]}"
            if refused == len(failures):
                raise ProduceRefusedError(message)
            raise ProduceError(message)
