"""The apply path's statements: each takes parallel arrays and touches many rows at once."""

from __future__ import annotations

from typing import LiteralString

__all__ = [
    "AUDIT", "CONFLICTS", "DEPARTMENTS", "LEDGER", "LEDGER_OUTCOME", "LOCK_TASKS", "PATIENTS",
    "SHIFTS", "TASK_PLACEHOLDERS", "UPDATE_TASKS", "USERS",
]

LEDGER: LiteralString = """
INSERT INTO processed_events (event_id, event_type, aggregate_id, topic, "partition", "offset")
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::uuid[], %s::text[], %s::int[], %s::bigint[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

LEDGER_OUTCOME: LiteralString = """
UPDATE processed_events AS p SET outcome = u.outcome
FROM unnest(%s::uuid[], %s::text[]) AS u(event_id, outcome)
WHERE p.event_id = u.event_id
"""

# Get-or-create from identity snapshots: the first snapshot of an id wins. A snapshot
# that contradicts an existing row (a code, username or MRN already held by another id)
# inserts nothing, and the referencing row then fails its foreign key: dead-lettered.
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

SHIFTS: LiteralString = """
INSERT INTO shifts (id, department_id, supervisor_id, starts_at, ends_at)
SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::timestamptz[], %s::timestamptz[])
ON CONFLICT DO NOTHING
"""

TASK_PLACEHOLDERS: LiteralString = """
INSERT INTO tasks (id, title, priority, patient_id, created_by, department_id)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::task_priority[], %s::uuid[], %s::uuid[],
                     %s::uuid[])
ON CONFLICT (id) DO NOTHING
"""

LOCK_TASKS: LiteralString = """
SELECT id, patient_id, created_by, department_id, title, description, status::text,
       priority::text, assigned_to, shift_id, due_date, completed_at, emr_system::text,
       emr_reference, field_clocks, vector_clock, hlc_physical, hlc_logical, origin_node,
       last_event_id
FROM tasks WHERE id = ANY(%s) ORDER BY id FOR UPDATE
"""

UPDATE_TASKS: LiteralString = """
UPDATE tasks AS t SET
    title = u.title, description = u.description, status = u.status::task_status,
    priority = u.priority::task_priority, assigned_to = u.assigned_to, shift_id = u.shift_id,
    due_date = u.due_date, completed_at = u.completed_at,
    emr_system = u.emr_system::emr_system, emr_reference = u.emr_reference,
    field_clocks = u.field_clocks, vector_clock = u.vector_clock,
    hlc_physical = u.hlc_physical, hlc_logical = u.hlc_logical,
    origin_node = u.origin_node, last_event_id = u.last_event_id
FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::uuid[], %s::uuid[],
            %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[], %s::jsonb[],
            %s::jsonb[], %s::bigint[], %s::int[], %s::text[], %s::uuid[])
    AS u(id, title, description, status, priority, assigned_to, shift_id, due_date,
         completed_at, emr_system, emr_reference, field_clocks, vector_clock, hlc_physical,
         hlc_logical, origin_node, last_event_id)
WHERE t.id = u.id
"""

CONFLICTS: LiteralString = """
INSERT INTO conflicts (aggregate_type, aggregate_id, event_id, local_clock, remote_clock,
                       local_state, remote_state, resolved_state, resolution_rule)
SELECT * FROM unnest(%s::text[], %s::uuid[], %s::uuid[], %s::jsonb[], %s::jsonb[],
                     %s::jsonb[], %s::jsonb[], %s::jsonb[], %s::text[])
ON CONFLICT (event_id) DO NOTHING
"""

AUDIT: LiteralString = """
INSERT INTO audit_logs (event_id, event_type, action, entity_type, entity_id, actor_id,
                        actor_role, patient_id, emr_system, source_system, topic,
                        "partition", "offset", details)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::uuid[], %s::uuid[],
                     %s::text[], %s::uuid[], %s::emr_system[], %s::text[], %s::text[],
                     %s::int[], %s::bigint[], %s::jsonb[])
"""
