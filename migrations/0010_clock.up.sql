-- One clock for the database: emr_now() is now() plus the offset in the setting
-- emr_streams.clock_offset_us (microseconds; unset or empty means 0, as in production).
-- The test suite sets it (per database, and per session through the processor's
-- connection string) so that the Python code and the database both run as of the
-- instant EMR_STREAMS_TEST_NOW names (streams/clock.py). Every default, trigger, view
-- and upkeep function that read now() or current_date reads emr_now() from here on.
--
-- Calendar facts are taken in UTC whatever the session's TimeZone: partitions are UTC
-- months, the native aggregates are refreshed in UTC, and a date of birth is "in the
-- future" only once no time zone on Earth (UTC+14 at most) has reached that date yet.

CREATE FUNCTION emr_now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT now() + coalesce(nullif(current_setting('emr_streams.clock_offset_us', true), ''),
                            '0')::bigint * INTERVAL '1 microsecond'
$$;
COMMENT ON FUNCTION emr_now() IS
    'now() shifted by the setting emr_streams.clock_offset_us (tests only; unset in production)';

DO $defaults$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT * FROM (VALUES
            ('departments', 'created_at'), ('departments', 'updated_at'),
            ('users', 'created_at'), ('users', 'updated_at'),
            ('shifts', 'created_at'), ('shifts', 'updated_at'),
            ('patients', 'created_at'), ('patients', 'updated_at'),
            ('tasks', 'created_at'), ('tasks', 'updated_at'),
            ('emr_verifications', 'created_at'), ('emr_verifications', 'updated_at'),
            ('handovers', 'initiated_at'), ('handovers', 'created_at'),
            ('handovers', 'updated_at'),
            ('processed_events', 'processed_at'), ('conflicts', 'detected_at'),
            ('audit_logs', 'created_at'), ('state_outbox', 'created_at'),
            ('dlq_redrives', 'redriven_at')) AS t(tbl, col)
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET DEFAULT emr_now()',
                       col.tbl, col.col);
    END LOOP;
END
$defaults$;

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := emr_now();
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION guard_clock_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.hlc_physical, NEW.hlc_logical) < (OLD.hlc_physical, OLD.hlc_logical) THEN
        RAISE EXCEPTION 'hybrid logical clock of % % moved backwards', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_each(OLD.vector_clock) AS o(node, counter)
               WHERE COALESCE((NEW.vector_clock ->> o.node)::numeric, -1) < (o.counter)::numeric)
    THEN
        RAISE EXCEPTION 'vector clock of % % lost or decreased a node counter',
            TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := emr_now();
    RETURN NEW;
END;
$$;

-- DOB: "in the future" means later than the date in the earliest time zone (UTC+14), so
-- the answer depends neither on the session's TimeZone nor on where the patient was born.
CREATE OR REPLACE FUNCTION validate_patient() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.mrn !~ '^[A-Z0-9]{6,20}$' THEN
        RAISE EXCEPTION 'invalid MRN format: expected 6 to 20 upper-case letters or digits'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.date_of_birth IS NOT NULL
       AND NEW.date_of_birth > ((emr_now() AT TIME ZONE 'UTC') + INTERVAL '14 hours')::date THEN
        RAISE EXCEPTION 'invalid date of birth: in the future'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.date_of_birth IS NOT NULL AND NEW.date_of_birth < DATE '1900-01-01' THEN
        RAISE EXCEPTION 'invalid date of birth: before 1900-01-01'
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := emr_now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION audit_logs_ensure_partitions(months_ahead integer DEFAULT 12,
                                                        months_back integer DEFAULT 1)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    this_month date := date_trunc('month', emr_now() AT TIME ZONE 'UTC')::date;
    created text;
BEGIN
    FOR i IN -months_back..months_ahead LOOP
        created := audit_logs_create_partition((this_month + make_interval(months => i))::date);
        IF created IS NOT NULL THEN
            RETURN NEXT created;
        END IF;
    END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION audit_logs_drop_expired(retention interval DEFAULT INTERVAL '7 years')
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    upper_bound timestamptz;
    -- Calendar arithmetic in UTC: "7 years before 2028-02-29" is 2021-02-28 whatever the
    -- session's TimeZone.
    cutoff constant timestamptz :=
        ((emr_now() AT TIME ZONE 'UTC') - retention) AT TIME ZONE 'UTC';
BEGIN
    IF audit_backend() <> 'native' THEN
        RETURN;
    END IF;
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_logs'::regclass
        ORDER BY c.relname
    LOOP
        upper_bound := substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
        IF upper_bound IS NOT NULL AND upper_bound <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            RETURN NEXT part.relname;
        END IF;
    END LOOP;
END;
$$;

-- The native aggregates bucket by date_trunc(), which follows the session's TimeZone:
-- refresh them in UTC, as TimescaleDB's time_bucket() does.
ALTER FUNCTION refresh_audit_aggregates() SET timezone = 'UTC';

-- The same columns as before (the view was created before 0009 added the chain columns).
CREATE OR REPLACE VIEW audit_logs_recent AS
SELECT id, created_at, event_id, event_type, action, entity_type, entity_id, actor_id,
       actor_role, patient_id, emr_system, source_system, topic, "partition", "offset",
       ip_address, user_agent, session_id, phi_accessed, details
FROM audit_logs WHERE created_at > emr_now() - INTERVAL '24 hours';

-- Partitions around the database's clock (0003 made them around the wall clock).
SELECT count(*) FROM audit_logs_ensure_partitions();
