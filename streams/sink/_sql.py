"""The apply path's statements: each takes parallel arrays and touches many rows at once."""

from __future__ import annotations

from typing import LiteralString

__all__ = ["AUDIT", "DEPARTMENTS", "LEDGER", "PATIENTS", "TASKS", "USERS"]

LEDGER: LiteralString = """
INSERT INTO processed_events (event_id, event_type, aggregate_id, topic, "partition", "offset")
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::uuid[], %s::text[], %s::int[], %s::bigint[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

# Get-or-create from identity snapshots: the first snapshot of an id wins. A snapshot
# that contradicts an existing row (a code, username or MRN already held by another id)
# inserts nothing, and the referencing task then fails its foreign key: dead-lettered.
DEPARTMENTS: LiteralString = """
INSERT INTO departments (id, code, name)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[])
ON CONFLICT DO NOTHING
"""

USERS: LiteralString = """
INSERT INTO users (id, username, display_name, role)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::user_role[])
ON CONFLICT DO NOTHING
"""

PATIENTS: LiteralString = """
INSERT INTO patients (id, mrn, emr_system, emr_id)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::emr_system[], %s::text[])
ON CONFLICT DO NOTHING
"""

# Last writer wins on (HLC physical, HLC logical, event id): a total order, so every
# permutation of the same events leaves the same row.
TASKS: LiteralString = """
INSERT INTO tasks AS t (id, title, status, priority, patient_id, assigned_to, created_by,
                        department_id, emr_system, completed_at, hlc_physical, hlc_logical,
                        last_event_id)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::task_status[], %s::task_priority[],
                     %s::uuid[], %s::uuid[], %s::uuid[], %s::uuid[], %s::emr_system[],
                     %s::timestamptz[], %s::bigint[], %s::int[], %s::uuid[])
ON CONFLICT (id) DO UPDATE SET
    title = excluded.title, status = excluded.status, priority = excluded.priority,
    patient_id = excluded.patient_id, assigned_to = excluded.assigned_to,
    created_by = excluded.created_by, department_id = excluded.department_id,
    emr_system = excluded.emr_system, completed_at = excluded.completed_at,
    hlc_physical = excluded.hlc_physical, hlc_logical = excluded.hlc_logical,
    last_event_id = excluded.last_event_id
WHERE (excluded.hlc_physical, excluded.hlc_logical, excluded.last_event_id)
    > (t.hlc_physical, t.hlc_logical, t.last_event_id)
"""

AUDIT: LiteralString = """
INSERT INTO audit_logs (event_id, event_type, action, entity_type, entity_id, actor_id,
                        actor_role, patient_id, emr_system, source_system, topic,
                        "partition", "offset")
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::uuid[], %s::uuid[],
                     %s::text[], %s::uuid[], %s::emr_system[], %s::text[], %s::text[],
                     %s::int[], %s::bigint[])
"""
