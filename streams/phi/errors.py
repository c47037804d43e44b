"""PHI protection errors. Messages name key ids and fields, never values."""

from __future__ import annotations

from streams.errors import StreamsError

__all__ = ["PhiDecryptError", "PhiError", "PhiKeyError"]


class PhiError(StreamsError):
    """PHI could not be sealed or opened."""


class PhiKeyError(PhiError):
    """A key is missing, unknown or malformed (the keyring, not the message, is at fault)."""


class PhiDecryptError(PhiError):
    """A sealed value does not open: a wrong key, a tampered or truncated token."""
