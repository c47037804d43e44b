-- Least-privilege group roles (issue #8). Login users are made members of one of them
-- (`CREATE ROLE app LOGIN PASSWORD '...' IN ROLE emr_processor`); see docs/schema.md, "Roles".
--   emr_processor  the stream processor, replay and operator commands: reads and writes
--                  exactly what the apply path, the outbox relay and the DLQ redrive use;
--                  no DELETE except on the outbox, no TRUNCATE, no DDL.
--   emr_reader     department dashboards: tasks (confined by the RLS policy of 0001 to the
--                  department in `emr_streams.department_id`), the patient task summary and
--                  the non-PHI reference data; no PHI columns of patients, no audit, no ledger.
--   emr_auditor    compliance: audit_logs, its views, aggregates and helper functions, read only.
-- Migrations and maintenance (partition creation and retention, aggregate refresh) run as
-- the schema owner: they are DDL, which PostgreSQL reserves to the owner.
--
-- Roles belong to the whole server, privileges to one database. Every database migrated on
-- a server runs this file, possibly at the same moment (each test session migrates its own
-- template database), so a role is created only when missing, and losing the race to
-- another database's migration (duplicate_object, or unique_violation on pg_authid) is fine.

DO $roles$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['emr_processor', 'emr_reader', 'emr_auditor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', wanted);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by the migration of another database
            END;
        END IF;
        -- A pre-existing role (made by a DBA) must not carry attributes that void the
        -- boundaries below.
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted
                   AND (rolsuper OR rolbypassrls)) THEN
            RAISE EXCEPTION 'role % exists with SUPERUSER or BYPASSRLS; least privilege needs '
                            'it without them', wanted
                USING ERRCODE = 'invalid_grant_operation';
        END IF;
    END LOOP;
END
$roles$;

-- The schema: USAGE only (PostgreSQL 15+ gives PUBLIC no CREATE on public).
GRANT USAGE ON SCHEMA public TO emr_processor, emr_reader, emr_auditor;

-- emr_processor -----------------------------------------------------------------------
-- The aggregates: placeholder inserts, SELECT ... FOR UPDATE (needs UPDATE), merged updates.
GRANT SELECT, INSERT, UPDATE ON tasks, handovers, emr_verifications TO emr_processor;
-- Identity snapshots are get-or-create (INSERT ... ON CONFLICT DO NOTHING): never read,
-- never changed. Foreign-key checks run with the owner's rights and need nothing here.
GRANT INSERT ON departments, users, patients, shifts TO emr_processor;
-- The idempotence ledger: claim (INSERT ... RETURNING), outcome (UPDATE); `status` reads it.
GRANT SELECT, INSERT, UPDATE ON processed_events TO emr_processor;
-- Concurrent edits are recorded, never reviewed, by the processor; ON CONFLICT (event_id)
-- needs to read the conflict target, and only that column.
GRANT INSERT, SELECT (event_id) ON conflicts TO emr_processor;
-- The outbox relay reads rows and deletes those the broker acknowledged.
GRANT SELECT, INSERT, DELETE ON state_outbox TO emr_processor;
-- `dlq redrive` records redrives (UPDATE for --force) and `dlq list` reads them.
GRANT SELECT, INSERT, UPDATE ON dlq_redrives TO emr_processor;
-- The audit trail: append only. Rows routed through the parent need no privilege on the
-- partitions; the immutability triggers of 0003 still refuse UPDATE, DELETE and TRUNCATE
-- to the owner, and without those privileges the processor is refused before them.
GRANT INSERT ON audit_logs TO emr_processor;
-- The identity columns of conflicts and state_outbox draw from their sequences without a
-- privilege check (GENERATED ALWAYS): no sequence grant is needed.

-- Row-level security: the processor writes the tasks of every department. A permissive
-- policy for this role alone, rather than the BYPASSRLS attribute: BYPASSRLS is a
-- server-wide attribute that exempts the role from every policy of every table in every
-- database (those added later included), needs a superuser to grant and is invisible in
-- the schema; this policy covers tasks only, lives in this database's migrations, and is
-- reverted with them. Readers stay under tasks_department_isolation (policies combine by OR).
CREATE POLICY tasks_processor_all ON tasks TO emr_processor USING (true) WITH CHECK (true);

-- emr_reader --------------------------------------------------------------------------
GRANT SELECT ON tasks, departments, users, shifts TO emr_reader;
-- patients without the PHI columns (names, date of birth, encrypted_data): column privileges.
GRANT SELECT (id, mrn, emr_system, emr_id, is_active, deleted_at, created_at, updated_at)
    ON patients TO emr_reader;
-- A security_invoker view: the reader's own privileges and the tasks policy apply inside it.
GRANT SELECT ON patient_task_summary TO emr_reader;
-- Not granted: handovers and emr_verifications (no department policy of their own; they
-- would show other departments' work), the ledger, conflicts, the outbox, the audit trail.

-- emr_auditor -------------------------------------------------------------------------
GRANT SELECT ON audit_logs, audit_logs_recent, audit_metrics_hourly, audit_compliance_daily
    TO emr_auditor;

-- Functions: PostgreSQL lets PUBLIC execute every new function. The audit helpers are for
-- auditors only, and the upkeep functions for the owner (as anyone else they fail on the
-- DDL they run, but they should not be callable at all).
REVOKE EXECUTE ON FUNCTION
    get_audit_logs_time_range(timestamptz, timestamptz, text, integer),
    get_compliance_summary(date, date),
    audit_logs_create_partition(date),
    audit_logs_ensure_partitions(integer, integer),
    audit_logs_drop_expired(interval),
    refresh_audit_aggregates()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    get_audit_logs_time_range(timestamptz, timestamptz, text, integer),
    get_compliance_summary(date, date),
    audit_backend()
    TO emr_auditor;
