-- Revoke what 0008_roles granted in this database; the roles themselves stay.
-- Roles belong to the whole server: other databases may still grant them privileges and
-- DBAs may have made login users members of them. Dropping them here could also race the
-- up migration of another database, which finds a role, then grants to it after this
-- transaction dropped it. Left without privileges in this database, a NOLOGIN role grants
-- nothing; a DBA drops it with `DROP ROLE` once no database uses it.
DROP POLICY IF EXISTS tasks_processor_all ON tasks;

GRANT EXECUTE ON FUNCTION
    get_audit_logs_time_range(timestamptz, timestamptz, text, integer),
    get_compliance_summary(date, date),
    audit_logs_create_partition(date),
    audit_logs_ensure_partitions(integer, integer),
    audit_logs_drop_expired(interval),
    refresh_audit_aggregates()
    TO PUBLIC;

DO $roles$
DECLARE
    granted text;
BEGIN
    FOR granted IN SELECT rolname FROM pg_roles
                   WHERE rolname IN ('emr_processor', 'emr_reader', 'emr_auditor') LOOP
        -- ALL TABLES covers views and materialized views; revoking a table privilege
        -- revokes the column privileges too.
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', granted);
        EXECUTE format('REVOKE ALL ON FUNCTION get_audit_logs_time_range(timestamptz, '
                       'timestamptz, text, integer), get_compliance_summary(date, date), '
                       'audit_backend() FROM %I', granted);
        EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', granted);
    END LOOP;
END
$roles$;
