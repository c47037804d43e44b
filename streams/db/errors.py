"""Errors of the database layer."""

from __future__ import annotations

from streams.errors import StreamsError

__all__ = ["MigrationChecksumError", "MigrationError", "MigrationFileError"]


class MigrationError(StreamsError):
    """A migration could not be applied or reverted."""


class MigrationFileError(MigrationError):
    """The migrations folder holds a malformed, missing or duplicate file."""


class MigrationChecksumError(MigrationError):
    """An applied migration's file was edited after it was applied."""
