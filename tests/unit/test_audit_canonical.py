"""The audit chain's canonical form in Python: field encoding and renderings."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from streams.audit import GENESIS, AuditRow, chain_key_for, row_hash
from streams.audit.canonical import field


def _row(**changes: object) -> AuditRow:
    row = AuditRow(chain_key="t:0", chain_seq=1, prev_hash=GENESIS, row_hash=b"",
                   id=uuid.UUID(int=1), created_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
                   event_id=None, event_type=None, action="created", entity_type="task",
                   entity_id=None, actor_id=None, actor_role=None, patient_id=None,
                   emr_system=None, source_system="EPIC", topic="t", partition=0, offset=0,
                   ip_address=None, user_agent=None, session_id=None, phi_accessed=False,
                   details="{}")
    return replace(row, **changes)  # type: ignore[arg-type]


def test_fields_are_length_prefixed_and_null_is_distinct() -> None:
    assert field(None) == b"\xff\xff\xff\xff"
    assert field("") == b"\x00\x00\x00\x00"
    assert field("é") == b"\x00\x00\x00\x02\xc3\xa9"
    # Moving a character between neighbouring fields changes the bytes.
    assert field("ab") + field("c") != field("a") + field("bc")


def test_chain_keys() -> None:
    assert chain_key_for("emr.tasks.v1", 2) == "emr.tasks.v1:2"
    assert chain_key_for(None, None) == "local"


def test_the_hash_covers_the_documented_fields_in_order() -> None:
    row = _row()
    expected = hashlib.sha256(GENESIS + b"".join(field(v) for v in (
        "t:0", "1", "00000000-0000-0000-0000-000000000001", "1767323045000006", None, None,
        "created", "task", None, None, None, None, None, "EPIC", "t", "0", "0", None, None,
        None, "false", "{}"))).digest()
    assert row_hash(GENESIS, row) == expected


@pytest.mark.parametrize("change", [
    {"action": "deleted"}, {"details": '{"a": 1}'}, {"phi_accessed": True},
    {"created_at": datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC)}, {"offset": None},
    {"chain_seq": 2}, {"session_id": ""},
])
def test_any_change_changes_the_hash(change: dict[str, object]) -> None:
    assert row_hash(GENESIS, _row(**change)) != row_hash(GENESIS, _row())


def test_time_is_rendered_in_utc_microseconds_whatever_the_zone() -> None:
    utc = _row()
    shifted = _row(created_at=utc.created_at.astimezone(timezone(timedelta(hours=-5))))
    assert row_hash(GENESIS, shifted) == row_hash(GENESIS, utc)
    before_1970 = _row(created_at=datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert row_hash(GENESIS, before_1970) == hashlib.sha256(
        GENESIS + b"".join(field(v) for v in (
            "t:0", "1", "00000000-0000-0000-0000-000000000001", "-1", None, None, "created",
            "task", None, None, None, None, None, "EPIC", "t", "0", "0", None, None, None,
            "false", "{}"))).digest()
