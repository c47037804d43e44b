-- The audit trail: one immutable row per audited change, with provenance.
-- Created here, before anything that configures its time series (the seed's migration
-- 003 configured TimescaleDB before 004 created the table; this order fixes that).
--
-- Storage: a TimescaleDB hypertable with 1-month chunks where the extension can be
-- loaded (available and in shared_preload_libraries), otherwise a table range-partitioned
-- by month on created_at. Both have the same columns, indexes and rules.

CREATE FUNCTION audit_timescaledb_loadable() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND coalesce(current_setting('shared_preload_libraries', true), '') LIKE '%timescaledb%'
$$;

DO $migration$
DECLARE
    columns constant text := $cols$
        id             uuid        NOT NULL DEFAULT gen_random_uuid(),
        created_at     timestamptz NOT NULL DEFAULT now(),
        event_id       uuid,
        event_type     text,
        action         text        NOT NULL,
        entity_type    text        NOT NULL,
        entity_id      uuid,
        actor_id       uuid,
        actor_role     text,
        patient_id     uuid,
        emr_system     emr_system,
        source_system  text        NOT NULL,
        topic          text,
        "partition"    integer,
        "offset"       bigint,
        ip_address     inet,
        user_agent     text,
        session_id     text,
        phi_accessed   boolean     NOT NULL DEFAULT false,
        details        jsonb       NOT NULL DEFAULT '{}',
        PRIMARY KEY (id, created_at),
        CONSTRAINT chk_audit_logs_details CHECK (jsonb_typeof(details) = 'object'),
        CONSTRAINT chk_audit_logs_provenance
            CHECK ((topic IS NULL) = ("partition" IS NULL) AND (topic IS NULL) = ("offset" IS NULL))
    $cols$;
BEGIN
    IF audit_timescaledb_loadable() THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXECUTE format('CREATE TABLE audit_logs (%s)', columns);
        PERFORM create_hypertable('audit_logs', 'created_at',
                                  chunk_time_interval => INTERVAL '1 month');
    ELSE
        EXECUTE format('CREATE TABLE audit_logs (%s) PARTITION BY RANGE (created_at)', columns);
    END IF;
END
$migration$;

COMMENT ON TABLE audit_logs IS
    'Immutable audit trail (HIPAA): UPDATE, DELETE and TRUNCATE are refused; old data leaves '
    'only by retention (dropped chunks or partitions after 7 years).';

-- 'timescaledb' when audit_logs is a hypertable, 'native' when it is partitioned.
CREATE FUNCTION audit_backend() RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        IF EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                   WHERE hypertable_name = 'audit_logs') THEN
            RETURN 'timescaledb';
        END IF;
    END IF;
    RETURN 'native';
END;
$$;

CREATE INDEX idx_audit_logs_entity ON audit_logs (entity_type, entity_id);
CREATE INDEX idx_audit_logs_created_at_brin ON audit_logs USING brin (created_at);
CREATE INDEX idx_audit_logs_emr_patient ON audit_logs (emr_system, patient_id);
CREATE INDEX idx_audit_logs_event_id ON audit_logs (event_id);

-- Immutability.
CREATE FUNCTION refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit rows leave only through the retention policy';
END;
$$;
CREATE TRIGGER trg_audit_logs_immutable BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER trg_audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();

-- Native partitions -----------------------------------------------------------------
-- One partition per calendar month (UTC), named audit_logs_pYYYYMM. Row triggers of the
-- parent are cloned onto each partition; the TRUNCATE guard is added to each one too.
CREATE FUNCTION audit_logs_create_partition(month date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lower_bound timestamptz := (date_trunc('month', month::timestamp) AT TIME ZONE 'UTC');
    upper_bound timestamptz := ((date_trunc('month', month::timestamp) + INTERVAL '1 month')
                                AT TIME ZONE 'UTC');
    name text := 'audit_logs_p' || to_char(month, 'YYYYMM');
BEGIN
    IF audit_backend() <> 'native' THEN
        RETURN NULL;
    END IF;
    IF to_regclass(name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_logs FOR VALUES FROM (%L) TO (%L)',
                   name, lower_bound, upper_bound);
    EXECUTE format('CREATE TRIGGER trg_audit_logs_no_truncate BEFORE TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change()', name);
    RETURN name;
END;
$$;

-- Create the partitions from months_back before this month to months_ahead after it;
-- returns the names created. The processor calls it at start and every hour.
CREATE FUNCTION audit_logs_ensure_partitions(months_ahead integer DEFAULT 12,
                                             months_back integer DEFAULT 1)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
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

-- Retention on the native path: drop every partition whose rows are all older than
-- *retention* (7 years by default); returns the names dropped. On TimescaleDB the
-- retention policy does this and the function returns nothing.
CREATE FUNCTION audit_logs_drop_expired(retention interval DEFAULT INTERVAL '7 years')
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    upper_bound timestamptz;
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
        IF upper_bound IS NOT NULL AND upper_bound <= now() - retention THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            RETURN NEXT part.relname;
        END IF;
    END LOOP;
END;
$$;

SELECT count(*) FROM audit_logs_ensure_partitions();
