"""Canonical identity ids: RFC 9562 UUIDv8 (name-based, SHA-256), and what they are for."""

from __future__ import annotations

import hashlib
import uuid

from streams.contracts.identity import IDENTITY_NAMESPACE, identity_id
from streams.contracts.models import TaskEvent
from streams.sink.identities import canonical_event
from tests.unit.events_fixtures import every_event


def test_the_id_is_the_rfc_9562_name_based_v8_of_the_kind_and_key() -> None:
    found = identity_id("user", "nurse.ada")
    digest = hashlib.sha256(IDENTITY_NAMESPACE.bytes + b"user:nurse.ada").digest()
    assert found.version == 8 and found.variant == uuid.RFC_4122
    # Every bit but the six of version and variant is the digest's.
    mask = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
    assert found.int & mask == int.from_bytes(digest[:16], "big") & mask
    assert identity_id("user", "nurse.ada") == found  # deterministic
    assert identity_id("department", "nurse.ada") != found  # kinds do not collide
    assert identity_id("user", "Nurse.Ada") != found  # keys are exact


def test_canonical_events_rename_every_identity_and_record_the_producer_ids() -> None:
    aliases: set[tuple[str, uuid.UUID, uuid.UUID]] = set()
    events = [canonical_event(e, aliases) for e in every_event()]
    task = events[0]
    assert isinstance(task, TaskEvent)
    assert task.task.patient.id == identity_id("patient", task.task.patient.mrn)
    assert task.task.created_by.id == identity_id("user", task.task.created_by.username)
    assert task.actor.id == identity_id("user", task.actor.username)
    assert task.task.department.id == identity_id("department", task.task.department.code)
    # Everything else is untouched, shifts keep the producer's id (no natural key).
    original = every_event()[0]
    assert task.event_id == original.event_id and task.payload.shift is not None  # type: ignore[union-attr]
    assert task.payload.shift.id == original.payload.shift.id  # type: ignore[union-attr]
    assert task.payload.shift.supervisor.id == identity_id(  # type: ignore[union-attr]
        "user", "sup.grace")
    assert ("patient", original.task.patient.id,  # type: ignore[union-attr]
            task.task.patient.id) in aliases
    # Canonical events are a fixed point.
    again: set[tuple[str, uuid.UUID, uuid.UUID]] = set()
    assert [canonical_event(e, again) for e in events] == events and not again

