"""Errors of the Kafka layer."""

from __future__ import annotations

from streams.errors import RetriableError, StreamsError

__all__ = ["KafkaAdminError", "KafkaLayerError", "ProduceError"]


class KafkaLayerError(StreamsError):
    """Base class of the Kafka layer's errors."""


class KafkaAdminError(KafkaLayerError):
    """A topic or cluster administration request failed."""


class ProduceError(KafkaLayerError, RetriableError):
    """A message could not be delivered to the broker."""
