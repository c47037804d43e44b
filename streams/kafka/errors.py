"""Errors of the Kafka layer."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from streams.errors import RetriableError, StreamsError

__all__ = ["KafkaAdminError", "KafkaLayerError", "ProduceError", "ProduceRefusedError",
           "kafka_reason"]


def kafka_reason(exc: KafkaException) -> str:
    """The client's own description of *exc* (its KafkaError), else the exception's text."""
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)


class KafkaLayerError(StreamsError):
    """Base class of the Kafka layer's errors."""


class KafkaAdminError(KafkaLayerError):
    """A topic or cluster administration request failed."""


class ProduceError(KafkaLayerError, RetriableError):
    """A message could not be delivered to the broker (for now: retry)."""


class ProduceRefusedError(KafkaLayerError):
    """The client or the broker refused a message for what it is (too large, invalid):
    retrying the same message cannot help."""
