"""Errors of the database layer."""

from __future__ import annotations

from streams.errors import RetriableError, StreamsError

__all__ = [
    "DatabaseUnavailableError",
    "MigrationChecksumError",
    "MigrationError",
    "MigrationFileError",
]


class DatabaseUnavailableError(RetriableError):
    """The database server cannot be reached (down, wrong address, refused)."""


class MigrationError(StreamsError):
    """A migration could not be applied or reverted."""


class MigrationFileError(MigrationError):
    """The migrations folder holds a malformed, missing or duplicate file."""


class MigrationChecksumError(MigrationError):
    """An applied migration's file was edited after it was applied."""
