"""Errors of the audit trail's tamper evidence."""

from __future__ import annotations

from streams.errors import StreamsError

__all__ = ["AuditChainError"]


class AuditChainError(StreamsError):
    """The audit chain cannot be read (migration 0009 not applied, or a database error)."""
