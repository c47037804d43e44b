-- Back to 0004's aggregates: materialized only, refreshed over the last hours and days
-- (TimescaleDB), or materialized views refreshed whole (native). The policies restored
-- here first run one interval from now: a job started at once would race a further
-- revert that drops the aggregates ("tuple concurrently deleted").
DO $migration$
BEGIN
    IF audit_backend() = 'timescaledb' THEN
        ALTER MATERIALIZED VIEW audit_metrics_hourly SET (timescaledb.materialized_only = true);
        ALTER MATERIALIZED VIEW audit_compliance_daily SET (timescaledb.materialized_only = true);
        PERFORM remove_continuous_aggregate_policy('audit_metrics_hourly');
        PERFORM remove_continuous_aggregate_policy('audit_compliance_daily');
        PERFORM add_continuous_aggregate_policy('audit_metrics_hourly',
            start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute',
            schedule_interval => INTERVAL '1 hour',
            initial_start => now() + INTERVAL '1 hour');
        PERFORM add_continuous_aggregate_policy('audit_compliance_daily',
            start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 minute',
            schedule_interval => INTERVAL '1 day',
            initial_start => now() + INTERVAL '1 day');
        RETURN;
    END IF;
    DROP VIEW audit_metrics_hourly;
    DROP VIEW audit_compliance_daily;
    DROP MATERIALIZED VIEW audit_metrics_hourly_store;
    DROP MATERIALIZED VIEW audit_compliance_daily_store;
    DROP TABLE audit_aggregate_watermarks;
    CREATE MATERIALIZED VIEW audit_metrics_hourly AS
        SELECT date_trunc('hour', created_at) AS bucket, entity_type, action, source_system,
               count(*) AS event_count,
               sum(CASE WHEN phi_accessed THEN 1 ELSE 0 END) AS phi_access_count,
               min(created_at) AS first_event_at, max(created_at) AS last_event_at
        FROM audit_logs GROUP BY 1, entity_type, action, source_system;
    CREATE MATERIALIZED VIEW audit_compliance_daily AS
        SELECT date_trunc('day', created_at) AS bucket,
               coalesce(emr_system::text, 'NONE') AS emr_system, source_system,
               count(*) AS total_events,
               sum(CASE WHEN phi_accessed THEN 1 ELSE 0 END) AS phi_access_events,
               sum(CASE WHEN actor_id IS NOT NULL THEN 1 ELSE 0 END) AS attributed_events,
               sum(CASE WHEN actor_id IS NULL THEN 1 ELSE 0 END) AS unattributed_events
        FROM audit_logs GROUP BY 1, coalesce(emr_system::text, 'NONE'), source_system;
    CREATE UNIQUE INDEX uq_audit_metrics_hourly
        ON audit_metrics_hourly (bucket, entity_type, action, source_system);
    CREATE UNIQUE INDEX uq_audit_compliance_daily
        ON audit_compliance_daily (bucket, emr_system, source_system);
    GRANT SELECT ON audit_metrics_hourly, audit_compliance_daily TO emr_auditor;
END
$migration$;

CREATE OR REPLACE FUNCTION refresh_audit_aggregates() RETURNS text
LANGUAGE plpgsql SET timezone = 'UTC' AS $$
BEGIN
    IF audit_backend() = 'timescaledb' THEN
        RETURN 'timescaledb: refreshed by policy';
    END IF;
    REFRESH MATERIALIZED VIEW CONCURRENTLY audit_metrics_hourly;
    REFRESH MATERIALIZED VIEW CONCURRENTLY audit_compliance_daily;
    RETURN 'native: refreshed';
END;
$$;
