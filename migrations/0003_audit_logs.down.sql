DROP TABLE IF EXISTS audit_logs CASCADE;
DROP FUNCTION IF EXISTS audit_logs_drop_expired(interval);
DROP FUNCTION IF EXISTS audit_logs_ensure_partitions(integer, integer);
DROP FUNCTION IF EXISTS audit_logs_create_partition(date);
DROP FUNCTION IF EXISTS refuse_audit_change();
DROP FUNCTION IF EXISTS audit_backend();
DROP FUNCTION IF EXISTS audit_timescaledb_loadable();
