DROP FUNCTION IF EXISTS audit_guard_chunks();
DROP FUNCTION IF EXISTS audit_hypertable_id();
