"""Errors of the event contracts: input that can never be applied (poison)."""

from __future__ import annotations

from streams.errors import StreamsError

__all__ = ["ContractError", "DecodeError"]


class ContractError(StreamsError):
    """An event breaks its contract; retrying cannot help, it belongs in the dead-letter topic."""


class DecodeError(ContractError):
    """The bytes are not a valid event."""
