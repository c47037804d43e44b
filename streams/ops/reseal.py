"""Re-seal stored PHI: ENC1 tokens (bound to their field only) become ENC2 tokens, bound to
their row — the task, handover or verification, or the patient (docs/security.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg

from streams.phi.envelope import LEGACY_PREFIX, MessageKey, open_token
from streams.phi.errors import PhiDecryptError
from streams.phi.fields import patient_binding
from streams.phi.keyring import KeyProvider

__all__ = ["RESEALED_COLUMNS", "ResealReport", "reseal"]


@dataclass(frozen=True)
class _Column:
    """A column holding tokens, the schema paths its values are sealed for, and how a
    row's binding is formed."""

    table: LiteralString
    select: LiteralString
    update: LiteralString
    paths: tuple[str, ...]
    binding: str  # "<aggregate type>" (binding = that:<id>) or "patient"


RESEALED_COLUMNS = (
    _Column("tasks", "SELECT id, description, NULL FROM tasks WHERE description LIKE 'ENC1.%' "
            "FOR UPDATE", "UPDATE tasks SET description = %s WHERE id = %s",
            ("TaskCreated.description", "TaskUpdated.description"), "task"),
    _Column("handovers", "SELECT id, notes, NULL FROM handovers WHERE notes LIKE 'ENC1.%' "
            "FOR UPDATE", "UPDATE handovers SET notes = %s WHERE id = %s",
            ("HandoverInitiated.notes",), "handover"),
    _Column("emr_verifications", "SELECT id, failure_reason, NULL FROM emr_verifications "
            "WHERE failure_reason LIKE 'ENC1.%' FOR UPDATE",
            "UPDATE emr_verifications SET failure_reason = %s WHERE id = %s",
            ("VerificationFailed.failure_reason",), "emr_verification"),
    _Column("patients", "SELECT id, encrypted_data ->> 'sealed_phi', mrn FROM patients "
            "WHERE encrypted_data ->> 'sealed_phi' LIKE 'ENC1.%' FOR UPDATE",
            "UPDATE patients SET encrypted_data = jsonb_set(encrypted_data, '{sealed_phi}', "
            "to_jsonb(%s::text)) WHERE id = %s", ("PatientSnapshot",), "patient"),
)


@dataclass
class ResealReport:
    """Per table: ENC1 tokens found, re-sealed, and those that opened under no path."""

    found: dict[str, int]
    resealed: dict[str, int]
    unopened: dict[str, int]


def _open_legacy(provider: KeyProvider, token: str, paths: tuple[str, ...]
                 ) -> tuple[str, bytes] | None:
    for path in paths:
        try:
            return path, open_token(provider, token, path)
        except PhiDecryptError:
            continue
    return None


def reseal(conn: psycopg.Connection[Any], provider: KeyProvider, *, dry_run: bool = False
           ) -> ResealReport:
    """Rewrite every stored ENC1 token as ENC2 in one transaction (as the schema owner).

    A token that opens under none of its column's paths is left as it is and counted.
    """
    report = ResealReport({}, {}, {})
    key = MessageKey.new(provider)
    with conn.transaction(force_rollback=dry_run):
        for column in RESEALED_COLUMNS:
            rows = conn.execute(column.select).fetchall()
            report.found[column.table] = len(rows)
            done = unopened = 0
            for row_id, token, mrn in rows:
                if not str(token).startswith(LEGACY_PREFIX):
                    continue
                opened = _open_legacy(provider, str(token), column.paths)
                if opened is None:
                    unopened += 1
                    continue
                path, plaintext = opened
                binding = (patient_binding(str(mrn)) if column.binding == "patient"
                           else f"{column.binding}:{row_id}")
                conn.execute(column.update, (key.seal(plaintext, path, binding), row_id))
                done += 1
            report.resealed[column.table] = done
            report.unopened[column.table] = unopened
    return report
