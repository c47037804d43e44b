"""The root of the emr-streams error tree."""

from __future__ import annotations

__all__ = ["ConfigError", "RetriableError", "StreamsError"]


class StreamsError(Exception):
    """Base class of every error emr-streams raises on purpose."""


class ConfigError(StreamsError):
    """The settings are missing or inconsistent."""


class RetriableError(StreamsError):
    """A transient failure (database down, broker unreachable): retry, never dead-letter."""
