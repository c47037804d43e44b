-- Back to 0012's reader privileges, no row security on patients, the seed's view.
DROP VIEW patient_task_summary;
CREATE VIEW patient_task_summary
WITH (security_barrier = true, security_invoker = true) AS
SELECT p.id AS patient_id,
       p.mrn,
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
GROUP BY p.id, p.mrn, p.emr_system;
GRANT SELECT ON patient_task_summary TO emr_reader;

REVOKE SELECT ON tasks FROM emr_reader;
GRANT SELECT ON tasks TO emr_reader;
REVOKE SELECT ON patients FROM emr_reader;
GRANT SELECT (id, mrn, emr_system, emr_id, is_active, deleted_at, created_at, updated_at)
    ON patients TO emr_reader;

DROP POLICY patients_processor_all ON patients;
DROP POLICY patients_department_isolation ON patients;
ALTER TABLE patients DISABLE ROW LEVEL SECURITY;
