-- The audit time series: aggregates, compression, retention and the seed's helpers.
-- Same names, columns and results on both storage paths (see 0003_audit_logs):
--   TimescaleDB: continuous aggregates with refresh policies, compression after 90 days,
--                retention of 7 years;
--   native:      materialized views refreshed by refresh_audit_aggregates() (the processor
--                runs it hourly with partition upkeep and retention; see
--                `emr-streams maintenance`), retention by audit_logs_drop_expired().
-- Aggregates use only what continuous aggregates support (no DISTINCT).

DO $migration$
DECLARE
    hourly constant text := $q$
        SELECT %1$s AS bucket,
               entity_type,
               action,
               source_system,
               count(*) AS event_count,
               sum(CASE WHEN phi_accessed THEN 1 ELSE 0 END) AS phi_access_count,
               min(created_at) AS first_event_at,
               max(created_at) AS last_event_at
        FROM audit_logs
        GROUP BY 1, entity_type, action, source_system
    $q$;
    daily constant text := $q$
        SELECT %1$s AS bucket,
               coalesce(emr_system::text, 'NONE') AS emr_system,
               source_system,
               count(*) AS total_events,
               sum(CASE WHEN phi_accessed THEN 1 ELSE 0 END) AS phi_access_events,
               sum(CASE WHEN actor_id IS NOT NULL THEN 1 ELSE 0 END) AS attributed_events,
               sum(CASE WHEN actor_id IS NULL THEN 1 ELSE 0 END) AS unattributed_events
        FROM audit_logs
        GROUP BY 1, coalesce(emr_system::text, 'NONE'), source_system
    $q$;
BEGIN
    IF audit_backend() = 'timescaledb' THEN
        ALTER TABLE audit_logs SET (timescaledb.compress,
                                    timescaledb.compress_segmentby = 'entity_type',
                                    timescaledb.compress_orderby = 'created_at DESC');
        PERFORM add_compression_policy('audit_logs', INTERVAL '90 days');
        PERFORM add_retention_policy('audit_logs', INTERVAL '7 years');
        EXECUTE format('CREATE MATERIALIZED VIEW audit_metrics_hourly '
                       'WITH (timescaledb.continuous) AS %s WITH NO DATA',
                       format(hourly, 'time_bucket(INTERVAL ''1 hour'', created_at)'));
        EXECUTE format('CREATE MATERIALIZED VIEW audit_compliance_daily '
                       'WITH (timescaledb.continuous) AS %s WITH NO DATA',
                       format(daily, 'time_bucket(INTERVAL ''1 day'', created_at)'));
        PERFORM add_continuous_aggregate_policy('audit_metrics_hourly',
            start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute',
            schedule_interval => INTERVAL '1 hour');
        PERFORM add_continuous_aggregate_policy('audit_compliance_daily',
            start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 minute',
            schedule_interval => INTERVAL '1 day');
    ELSE
        EXECUTE format('CREATE MATERIALIZED VIEW audit_metrics_hourly AS %s',
                       format(hourly, 'date_trunc(''hour'', created_at)'));
        EXECUTE format('CREATE MATERIALIZED VIEW audit_compliance_daily AS %s',
                       format(daily, 'date_trunc(''day'', created_at)'));
        -- REFRESH ... CONCURRENTLY needs a unique index.
        CREATE UNIQUE INDEX uq_audit_metrics_hourly
            ON audit_metrics_hourly (bucket, entity_type, action, source_system);
        CREATE UNIQUE INDEX uq_audit_compliance_daily
            ON audit_compliance_daily (bucket, emr_system, source_system);
    END IF;
END
$migration$;

-- Refresh the aggregates on the native path (readers are not blocked). On TimescaleDB the
-- refresh policies do it; this function then does nothing.
CREATE FUNCTION refresh_audit_aggregates() RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF audit_backend() = 'timescaledb' THEN
        RETURN 'timescaledb: refreshed by policy';
    END IF;
    REFRESH MATERIALIZED VIEW CONCURRENTLY audit_metrics_hourly;
    REFRESH MATERIALIZED VIEW CONCURRENTLY audit_compliance_daily;
    RETURN 'native: refreshed';
END;
$$;

-- The audit rows of [start_time, end_time), optionally of one entity type, oldest first.
CREATE FUNCTION get_audit_logs_time_range(start_time timestamptz, end_time timestamptz,
                                          p_entity_type text DEFAULT NULL,
                                          p_limit integer DEFAULT 10000)
RETURNS SETOF audit_logs
LANGUAGE sql STABLE AS $$
    SELECT *
    FROM audit_logs
    WHERE created_at >= start_time AND created_at < end_time
      AND (p_entity_type IS NULL OR entity_type = p_entity_type)
    ORDER BY created_at, id
    LIMIT p_limit
$$;

-- Per UTC day of [start_date, end_date]: events, PHI accesses, and how many events name
-- the person who caused them (attribution, a HIPAA audit control). Computed from
-- audit_logs itself, so it is exact whatever the aggregates' refresh state.
CREATE FUNCTION get_compliance_summary(start_date date, end_date date)
RETURNS TABLE (day date, total_events bigint, phi_access_events bigint,
               attributed_events bigint, unattributed_events bigint,
               attribution_rate numeric)
LANGUAGE sql STABLE AS $$
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
           count(*) AS total_events,
           count(*) FILTER (WHERE phi_accessed) AS phi_access_events,
           count(*) FILTER (WHERE actor_id IS NOT NULL) AS attributed_events,
           count(*) FILTER (WHERE actor_id IS NULL) AS unattributed_events,
           round(count(*) FILTER (WHERE actor_id IS NOT NULL)::numeric / count(*), 4)
               AS attribution_rate
    FROM audit_logs
    WHERE created_at >= (start_date::timestamp AT TIME ZONE 'UTC')
      AND created_at < ((end_date + 1)::timestamp AT TIME ZONE 'UTC')
    GROUP BY 1
    ORDER BY 1
$$;

-- The last 24 hours of the audit trail.
CREATE VIEW audit_logs_recent AS
SELECT * FROM audit_logs WHERE created_at > now() - INTERVAL '24 hours';
