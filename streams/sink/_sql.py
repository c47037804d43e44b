"""The apply path's statements: each takes parallel arrays and touches many rows at once."""

from __future__ import annotations

from typing import LiteralString

__all__ = ["AUDIT", "CONFLICTS", "DEAD_LETTERS", "DEPARTMENTS", "LEDGER", "LEDGER_OUTCOME",
           "OUTBOX", "PATIENTS", "SHIFTS", "USERS"]

LEDGER: LiteralString = """
INSERT INTO processed_events (event_id, event_type, aggregate_id, topic, "partition", "offset")
SELECT * FROM unnest(%b::uuid[], %b::text[], %b::uuid[], %b::text[], %b::int[], %b::bigint[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

LEDGER_OUTCOME: LiteralString = """
UPDATE processed_events AS p SET outcome = u.outcome
FROM unnest(%b::uuid[], %b::text[]) AS u(event_id, outcome)
WHERE p.event_id = u.event_id
"""

# Get-or-create from identity snapshots: the first snapshot of an id wins. A snapshot
# that contradicts an existing row (a code, username or MRN already held by another id)
# inserts nothing, and the referencing row then fails its foreign key: dead-lettered.
DEPARTMENTS: LiteralString = """
INSERT INTO departments (id, code, name)
SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[])
ON CONFLICT DO NOTHING
"""

USERS: LiteralString = """
INSERT INTO users (id, username, display_name, role)
SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::user_role[])
ON CONFLICT DO NOTHING
"""

PATIENTS: LiteralString = """
INSERT INTO patients (id, mrn, emr_system, emr_id, first_name, last_name, date_of_birth,
                      encrypted_data)
SELECT id, mrn, emr, emr_id, first_name, last_name, date_of_birth,
       CASE WHEN sealed IS NOT NULL THEN jsonb_build_object('v', 1, 'sealed_phi', sealed) END
FROM unnest(%b::uuid[], %b::text[], %b::emr_system[], %b::text[], %b::text[], %b::text[],
            %b::date[], %b::text[])
     AS p(id, mrn, emr, emr_id, first_name, last_name, date_of_birth, sealed)
ON CONFLICT DO NOTHING
"""

SHIFTS: LiteralString = """
INSERT INTO shifts (id, department_id, supervisor_id, starts_at, ends_at)
SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::timestamptz[], %b::timestamptz[])
ON CONFLICT DO NOTHING
"""

CONFLICTS: LiteralString = """
INSERT INTO conflicts (aggregate_type, aggregate_id, event_id, local_clock, remote_clock,
                       local_state, remote_state, resolved_state, resolution_rule)
SELECT * FROM unnest(%b::text[], %b::uuid[], %b::uuid[], %b::jsonb[], %b::jsonb[],
                     %b::jsonb[], %b::jsonb[], %b::jsonb[], %b::text[])
ON CONFLICT (event_id) DO NOTHING
"""

DEAD_LETTERS: LiteralString = """
INSERT INTO dead_letters (source_topic, source_partition, source_offset, reason, error_class,
                          stage)
SELECT * FROM unnest(%b::text[], %b::int[], %b::bigint[], %b::text[], %b::text[], %b::text[])
ON CONFLICT DO NOTHING
"""

AUDIT: LiteralString = """
INSERT INTO audit_logs (event_id, event_type, action, entity_type, entity_id, actor_id,
                        actor_role, patient_id, emr_system, source_system, topic,
                        "partition", "offset", details)
SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::uuid[], %b::uuid[],
                     %b::text[], %b::uuid[], %b::emr_system[], %b::text[], %b::text[],
                     %b::int[], %b::bigint[], %b::jsonb[])
"""

OUTBOX: LiteralString = """
INSERT INTO state_outbox (aggregate_type, aggregate_id, state, set_aside_at, set_aside_reason)
SELECT t, a, s, CASE WHEN r IS NOT NULL THEN emr_now() END, r
FROM unnest(%b::text[], %b::uuid[], %b::jsonb[], %b::text[]) AS u(t, a, s, r)
"""
