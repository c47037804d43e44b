DROP VIEW IF EXISTS audit_logs_recent;
DROP FUNCTION IF EXISTS get_compliance_summary(date, date);
DROP FUNCTION IF EXISTS get_audit_logs_time_range(timestamptz, timestamptz, text, integer);
DROP FUNCTION IF EXISTS refresh_audit_aggregates();
DROP MATERIALIZED VIEW IF EXISTS audit_compliance_daily;
DROP MATERIALIZED VIEW IF EXISTS audit_metrics_hourly;
DO $migration$
BEGIN
    IF audit_backend() = 'timescaledb' THEN
        PERFORM remove_retention_policy('audit_logs', if_exists => true);
        PERFORM remove_compression_policy('audit_logs', if_exists => true);
    END IF;
END
$migration$;
