-- The audit aggregates are correct whenever they are read, in UTC, on both paths:
--
-- * TimescaleDB: real-time aggregation (materialized_only = false: the buckets past the
--   materialized region are computed from audit_logs when read), and refresh policies over
--   the whole history (start_offset NULL), so history loaded before the first run and late
--   backfills are materialized at the next run; `emr-streams maintenance run` refreshes
--   them at once.
-- * native: each aggregate is a view over a materialized store of the complete buckets up
--   to a watermark (the start of the current UTC hour or day at the last refresh) and a
--   live aggregate of the rows from the watermark on: the same figures as TimescaleDB's
--   real-time aggregates for the same rows. Buckets are UTC hours and days whatever the
--   session's TimeZone (date_trunc with a zone), as time_bucket's are.

DO $migration$
DECLARE
    hourly constant text := $q$
        SELECT date_trunc('hour', created_at, 'UTC') AS bucket,
               entity_type,
               action,
               source_system,
               count(*) AS event_count,
               sum(CASE WHEN phi_accessed THEN 1 ELSE 0 END) AS phi_access_count,
               min(created_at) AS first_event_at,
               max(created_at) AS last_event_at
        FROM audit_logs
        %s
        GROUP BY 1, entity_type, action, source_system
    $q$;
    daily constant text := $q$
        SELECT date_trunc('day', created_at, 'UTC') AS bucket,
               coalesce(emr_system::text, 'NONE') AS emr_system,
               source_system,
               count(*) AS total_events,
               sum(CASE WHEN phi_accessed THEN 1 ELSE 0 END) AS phi_access_events,
               sum(CASE WHEN actor_id IS NOT NULL THEN 1 ELSE 0 END) AS attributed_events,
               sum(CASE WHEN actor_id IS NULL THEN 1 ELSE 0 END) AS unattributed_events
        FROM audit_logs
        %s
        GROUP BY 1, coalesce(emr_system::text, 'NONE'), source_system
    $q$;
    live constant text := $q$WHERE created_at >= (SELECT materialized_until
        FROM audit_aggregate_watermarks WHERE aggregate = %L)$q$;
    stored constant text := $q$SELECT * FROM %I WHERE bucket < (SELECT materialized_until
        FROM audit_aggregate_watermarks WHERE aggregate = %L)$q$;
BEGIN
    IF audit_backend() = 'timescaledb' THEN
        ALTER MATERIALIZED VIEW audit_metrics_hourly SET (timescaledb.materialized_only = false);
        ALTER MATERIALIZED VIEW audit_compliance_daily SET (timescaledb.materialized_only = false);
        PERFORM remove_continuous_aggregate_policy('audit_metrics_hourly');
        PERFORM remove_continuous_aggregate_policy('audit_compliance_daily');
        PERFORM add_continuous_aggregate_policy('audit_metrics_hourly',
            start_offset => NULL, end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '1 hour');
        PERFORM add_continuous_aggregate_policy('audit_compliance_daily',
            start_offset => NULL, end_offset => INTERVAL '1 day',
            schedule_interval => INTERVAL '1 hour');
        RETURN;
    END IF;

    CREATE TABLE audit_aggregate_watermarks (
        aggregate          text PRIMARY KEY,
        materialized_until timestamptz NOT NULL
    );
    COMMENT ON TABLE audit_aggregate_watermarks IS
        'Native path: each aggregate''s store holds the buckets before materialized_until '
        '(set by refresh_audit_aggregates); the rows from it on are aggregated when read.';

    DROP MATERIALIZED VIEW audit_metrics_hourly;
    DROP MATERIALIZED VIEW audit_compliance_daily;
    EXECUTE format('CREATE MATERIALIZED VIEW audit_metrics_hourly_store AS %s',
                   format(hourly, ''));
    EXECUTE format('CREATE MATERIALIZED VIEW audit_compliance_daily_store AS %s',
                   format(daily, ''));
    -- REFRESH ... CONCURRENTLY needs a unique index.
    CREATE UNIQUE INDEX uq_audit_metrics_hourly_store
        ON audit_metrics_hourly_store (bucket, entity_type, action, source_system);
    CREATE UNIQUE INDEX uq_audit_compliance_daily_store
        ON audit_compliance_daily_store (bucket, emr_system, source_system);
    INSERT INTO audit_aggregate_watermarks VALUES
        ('audit_metrics_hourly', date_trunc('hour', emr_now(), 'UTC')),
        ('audit_compliance_daily', date_trunc('day', emr_now(), 'UTC'));

    EXECUTE format('CREATE VIEW audit_metrics_hourly AS %s UNION ALL %s',
                   format(stored, 'audit_metrics_hourly_store', 'audit_metrics_hourly'),
                   format(hourly, format(live, 'audit_metrics_hourly')));
    EXECUTE format('CREATE VIEW audit_compliance_daily AS %s UNION ALL %s',
                   format(stored, 'audit_compliance_daily_store', 'audit_compliance_daily'),
                   format(daily, format(live, 'audit_compliance_daily')));
    GRANT SELECT ON audit_metrics_hourly, audit_compliance_daily TO emr_auditor;
END
$migration$;

-- Native: refresh the stores (readers are not blocked) and move the watermarks to the start
-- of the current UTC hour and day, in one transaction: a reader sees the old store with
-- the old watermark or the new with the new. TimescaleDB: its policies refresh, and
-- `emr-streams maintenance run` calls refresh_continuous_aggregate itself (a procedure
-- that cannot run inside this function's transaction).
CREATE OR REPLACE FUNCTION refresh_audit_aggregates() RETURNS text
LANGUAGE plpgsql SET timezone = 'UTC' AS $$
BEGIN
    IF audit_backend() = 'timescaledb' THEN
        RETURN 'timescaledb: real-time aggregates, refreshed by policy';
    END IF;
    REFRESH MATERIALIZED VIEW CONCURRENTLY audit_metrics_hourly_store;
    REFRESH MATERIALIZED VIEW CONCURRENTLY audit_compliance_daily_store;
    UPDATE audit_aggregate_watermarks
       SET materialized_until = CASE aggregate
               WHEN 'audit_metrics_hourly' THEN date_trunc('hour', emr_now(), 'UTC')
               ELSE date_trunc('day', emr_now(), 'UTC') END;
    RETURN 'native: refreshed';
END;
$$;
