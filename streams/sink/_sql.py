"""The apply path's statements: each takes parallel arrays and touches many rows at once."""

from __future__ import annotations

from typing import LiteralString

__all__ = ["AUDIT", "CONFLICTS", "DEAD_LETTERS", "LEDGER", "LEDGER_OUTCOME", "OUTBOX",
           "REFERENCE_CONFLICTS", "TASK_PATIENTS"]

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

REFERENCE_CONFLICTS: LiteralString = """
INSERT INTO reference_conflicts (aggregate_type, aggregate_id, event_id, field, stored,
                                 claimed, resolved, resolution_rule)
SELECT * FROM unnest(%b::text[], %b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::text[],
                     %b::text[], %b::text[])
ON CONFLICT (event_id, field) DO NOTHING
"""

TASK_PATIENTS: LiteralString = """
SELECT id, patient_id FROM tasks WHERE id = ANY(%s)
"""
