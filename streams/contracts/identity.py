"""Canonical identity ids: one id per natural key, whoever minted the producer's id.

A department is its ``code``, a member of staff their ``username``, a patient their
``mrn`` as the event carries it (the plain MRN, or its keyed blind index when the producer
sealed PHI): the keys the schema holds unique. Two adapters, or one adapter after a
restart, may mint different ids for the same nurse; the processor stores each identity
under the id derived from its natural key and keeps every producer id as an alias
(``identity_aliases``). The id is a function of the key alone, so it does not depend on
which snapshot arrived first, and any language can compute it:

    UUIDv8, name-based with SHA-256 (RFC 9562, appendix B.2): the first 16 bytes of
    SHA-256(namespace bytes ‖ UTF-8 of "<kind>:<key>"), version nibble 8, variant 10.

A producer that derives its ids this way sees its own ids in the database and the state
topics. Do not derive a patient id from a plain MRN when you seal PHI: the id travels in
clear and would let anyone who can enumerate MRNs recover it (derive it from the blind
index, or let the processor do it).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Literal

__all__ = ["IDENTITY_NAMESPACE", "IdentityKind", "identity_id"]

#: The namespace of emr-streams identity ids (fixed: changing it re-keys every identity).
IDENTITY_NAMESPACE = uuid.UUID("6f1e2a3c-8d4b-4e5f-9a07-b1c2d3e4f5a6")

IdentityKind = Literal["department", "user", "patient"]


def identity_id(kind: IdentityKind, natural_key: str) -> uuid.UUID:
    """The canonical id of the *kind* identity whose natural key is *natural_key*."""
    digest = bytearray(hashlib.sha256(
        IDENTITY_NAMESPACE.bytes + f"{kind}:{natural_key}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8
    digest[8] = (digest[8] & 0x3F) | 0x80  # variant 10 (RFC 9562)
    return uuid.UUID(bytes=bytes(digest))
