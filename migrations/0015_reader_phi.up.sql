-- emr_reader sees no PHI and no patient outside its department, through any relation.
-- Before: column grants on patients left every patient's MRN and emr_id readable (the
-- table had no row security), patient_task_summary listed them from patients, and
-- tasks.description (free text, PHI) was readable. Now:
--
-- * patients: row security. A reader sees a patient only while a task of the department
--   in its emr_streams.department_id refers to it; the processor keeps every row through
--   a permissive policy of its own (as on tasks); the owner is not subject to it.
-- * columns: the reader reads no PHI column — not MRN, emr_id, names, date of birth,
--   sealed PHI, nor tasks.description. tests/migrations/test_roles.py enumerates every
--   column of every relation the role can read and checks it against the schemas' phi
--   marks.
-- * patient_task_summary: without the MRN (a summary per patient id).

ALTER TABLE patients ENABLE ROW LEVEL SECURITY;
CREATE POLICY patients_department_isolation ON patients TO emr_reader
    USING (EXISTS (SELECT 1 FROM public.tasks AS t
                   WHERE t.patient_id = patients.id
                     AND t.department_id = nullif(current_setting('emr_streams.department_id',
                                                                  true), '')::uuid));
CREATE POLICY patients_processor_all ON patients TO emr_processor USING (true) WITH CHECK (true);

REVOKE SELECT ON patients FROM emr_reader;
GRANT SELECT (id, emr_system, is_active, deleted_at, created_at, updated_at)
    ON patients TO emr_reader;

REVOKE SELECT ON tasks FROM emr_reader;
GRANT SELECT (id, title, status, priority, patient_id, assigned_to, created_by, department_id,
              shift_id, due_date, completed_at, emr_system, emr_reference, vector_clock,
              hlc_physical, hlc_logical, origin_node, last_event_id, field_clocks, created_at,
              updated_at, ingested_at, applied_at)
    ON tasks TO emr_reader;

DROP VIEW patient_task_summary;
CREATE VIEW patient_task_summary
WITH (security_barrier = true, security_invoker = true) AS
SELECT p.id AS patient_id,
       p.emr_system,
       count(t.id) AS total_tasks,
       count(t.id) FILTER (WHERE t.status IN ('PENDING', 'IN_PROGRESS', 'BLOCKED')) AS open_tasks,
       count(t.id) FILTER (WHERE t.status = 'COMPLETED') AS completed_tasks,
       count(t.id) FILTER (WHERE t.priority = 'CRITICAL'
                           AND t.status IN ('PENDING', 'IN_PROGRESS', 'BLOCKED'))
           AS open_critical_tasks,
       min(t.due_date) FILTER (WHERE t.status IN ('PENDING', 'IN_PROGRESS', 'BLOCKED'))
           AS next_due_date,
       max(t.updated_at) AS last_task_update
FROM patients p
LEFT JOIN tasks t ON t.patient_id = p.id
WHERE p.deleted_at IS NULL AND p.is_active
GROUP BY p.id, p.emr_system;
GRANT SELECT ON patient_task_summary TO emr_reader;
