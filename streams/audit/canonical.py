"""The canonical form of an audit row and its hash, computed outside the database.

The same bytes the ``audit_chain_hash`` SQL function (migration 0009) hashes, defined in
docs/schema.md, "Tamper evidence" (version 1)::

    row_hash = sha256(prev_hash || field(chain_key) || field(chain_seq) || ... )
    field(v) = b"\\xff\\xff\\xff\\xff" if v is None else len(utf8(v)).to_bytes(4, "big") + utf8(v)

Each value is first rendered as text: uuids lowercase with hyphens, ``created_at`` as
integer microseconds since 1970-01-01 UTC, integers in decimal, booleans ``true``/``false``,
text and enums as they are; ``ip_address`` and ``details`` come from the database already
rendered (``inet::text``, ``jsonb::text``: PostgreSQL's normalized output).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import LiteralString
from uuid import UUID

__all__ = ["GENESIS", "ROW_COLUMNS", "AuditRow", "chain_key_for", "field", "row_hash"]

#: ``prev_hash`` of the first row of every chain.
GENESIS = bytes(32)
_NULL = b"\xff\xff\xff\xff"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

#: The select list that gives an AuditRow, in its field order.
ROW_COLUMNS: LiteralString = (
    'chain_key, chain_seq, prev_hash, row_hash, id, created_at, event_id, event_type, action, '
    'entity_type, entity_id, actor_id, actor_role, patient_id, emr_system::text, '
    'source_system, topic, "partition", "offset", ip_address::text, user_agent, session_id, '
    'phi_accessed, details::text')


def chain_key_for(topic: str | None, partition: int | None) -> str:
    """The chain a row belongs to: ``<topic>:<partition>``, or ``local`` without a topic."""
    if topic is None or partition is None:
        return "local"
    return f"{topic}:{partition}"


def field(value: str | None) -> bytes:
    """One field of the canonical form: NULL, or length-prefixed UTF-8."""
    if value is None:
        return _NULL
    data = value.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return str((value - _EPOCH) // _MICROSECOND)
    if isinstance(value, str | int | UUID):
        return str(value)
    raise TypeError(f"no canonical rendering for {type(value).__name__}")


@dataclass(frozen=True)
class AuditRow:
    """One audit_logs row as ``SELECT ROW_COLUMNS`` returns it."""

    chain_key: str
    chain_seq: int
    prev_hash: bytes
    row_hash: bytes
    id: UUID
    created_at: datetime
    event_id: UUID | None
    event_type: str | None
    action: str
    entity_type: str
    entity_id: UUID | None
    actor_id: UUID | None
    actor_role: str | None
    patient_id: UUID | None
    emr_system: str | None
    source_system: str
    topic: str | None
    partition: int | None
    offset: int | None
    ip_address: str | None
    user_agent: str | None
    session_id: str | None
    phi_accessed: bool
    details: str

    def content(self) -> tuple[object, ...]:
        """The hashed values after ``prev_hash``, in canonical order."""
        return (self.chain_key, self.chain_seq, self.id, self.created_at, self.event_id,
                self.event_type, self.action, self.entity_type, self.entity_id, self.actor_id,
                self.actor_role, self.patient_id, self.emr_system, self.source_system,
                self.topic, self.partition, self.offset, self.ip_address, self.user_agent,
                self.session_id, self.phi_accessed, self.details)


def row_hash(prev_hash: bytes, row: AuditRow) -> bytes:
    """sha256 of *prev_hash* followed by the canonical fields of *row*."""
    digest = hashlib.sha256(prev_hash)
    for value in row.content():
        digest.update(field(_text(value)))
    return digest.digest()
