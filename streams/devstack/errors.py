"""Errors raised while starting or stopping the local stack."""

from __future__ import annotations

from streams.errors import StreamsError


class StackError(StreamsError):
    """The local stack could not be started, reached or stopped."""


class MissingToolError(StackError):
    """A tool the local stack needs (java, mvn) is not installed."""


class PortInUseError(StackError):
    """A port the local stack wants is held by a process that is not ours."""
