"""A confluent-kafka producer that reports every delivery, with idempotence on."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from confluent_kafka import KafkaError, Message, Producer

from streams.kafka.errors import ProduceError

__all__ = ["EventProducer"]

logger = logging.getLogger(__name__)


class EventProducer:
    """Produce keyed events; ``flush`` raises if any message was not delivered."""

    def __init__(self, client_config: Mapping[str, str],
                 **overrides: str | int | float | bool) -> None:
        conf: dict[str, object] = {
            **client_config,
            # librdkafka's own log lines go through Python logging, not raw stderr.
            "logger": logging.getLogger("streams.kafka.librdkafka"),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
        }
        conf.update(overrides)
        self._producer = Producer(conf)
        self.delivered = 0
        self._failures: list[str] = []

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()}: {err.str()}")
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
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every queued message; raise ProduceError if any failed or is still queued."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise ProduceError(f"{remaining} message(s) not delivered within {timeout:.0f}s")
        if self._failures:
            failures, self._failures = self._failures, []
            raise ProduceError(f"{len(failures)} message(s) failed: {failures[0]}")
