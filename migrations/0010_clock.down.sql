-- Back to the wall clock: the definitions of 0001, 0003 and 0004 again.

CREATE OR REPLACE VIEW audit_logs_recent AS
SELECT id, created_at, event_id, event_type, action, entity_type, entity_id, actor_id,
       actor_role, patient_id, emr_system, source_system, topic, "partition", "offset",
       ip_address, user_agent, session_id, phi_accessed, details
FROM audit_logs WHERE created_at > now() - INTERVAL '24 hours';

ALTER FUNCTION refresh_audit_aggregates() RESET timezone;

CREATE OR REPLACE FUNCTION audit_logs_drop_expired(retention interval DEFAULT INTERVAL '7 years')
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

CREATE OR REPLACE FUNCTION audit_logs_ensure_partitions(months_ahead integer DEFAULT 12,
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

CREATE OR REPLACE FUNCTION validate_patient() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.mrn !~ '^[A-Z0-9]{6,20}$' THEN
        RAISE EXCEPTION 'invalid MRN format: expected 6 to 20 upper-case letters or digits'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.date_of_birth IS NOT NULL AND NEW.date_of_birth > current_date THEN
        RAISE EXCEPTION 'invalid date of birth: in the future'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.date_of_birth IS NOT NULL AND NEW.date_of_birth < DATE '1900-01-01' THEN
        RAISE EXCEPTION 'invalid date of birth: before 1900-01-01'
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
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
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

DO $defaults$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT c.relname AS tbl, a.attname AS col
        FROM pg_attrdef d
        JOIN pg_class c ON c.oid = d.adrelid
        JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
          AND NOT c.relispartition
          AND pg_get_expr(d.adbin, d.adrelid) = 'emr_now()'
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET DEFAULT now()', col.tbl, col.col);
    END LOOP;
END
$defaults$;

DROP FUNCTION emr_now();
