-- Ids stay canonical (a re-keyed row cannot get its first producer id back once the
-- aliases are gone); the schema returns to 0011.
REVOKE ALL ON identity_aliases, identity_contradictions, reference_conflicts
    FROM emr_processor, emr_auditor;
REVOKE SELECT, UPDATE ON departments, users, shifts FROM emr_processor;
REVOKE SELECT (id, mrn, emr_system, emr_id, field_clocks, created_at, updated_at)
    ON patients FROM emr_processor;
REVOKE UPDATE (emr_system, emr_id, first_name, last_name, date_of_birth, encrypted_data,
               field_clocks, created_at, updated_at) ON patients FROM emr_processor;

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
CREATE OR REPLACE FUNCTION guard_clock_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lowest_kept record;
BEGIN
    IF (NEW.hlc_physical, NEW.hlc_logical) < (OLD.hlc_physical, OLD.hlc_logical) THEN
        RAISE EXCEPTION 'hybrid logical clock of % % moved backwards', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_each(OLD.vector_clock) AS o(node, counter)
               WHERE NEW.vector_clock ? o.node
                 AND (NEW.vector_clock ->> o.node)::numeric < (o.counter)::numeric)
    THEN
        RAISE EXCEPTION 'vector clock of % % lost or decreased a node counter',
            TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_object_keys(OLD.vector_clock) AS o(node)
               WHERE NOT NEW.vector_clock ? o.node) THEN
        SELECT (n.counter)::numeric AS counter, n.node INTO lowest_kept
        FROM jsonb_each(NEW.vector_clock) AS n(node, counter)
        ORDER BY (n.counter)::numeric, n.node COLLATE "C" LIMIT 1;
        IF (SELECT count(*) FROM jsonb_object_keys(NEW.vector_clock)) < 1024
           OR EXISTS (SELECT 1 FROM jsonb_each(OLD.vector_clock) AS o(node, counter)
                      WHERE NOT NEW.vector_clock ? o.node
                        AND ((o.counter)::numeric, o.node COLLATE "C")
                            > (lowest_kept.counter, lowest_kept.node COLLATE "C"))
        THEN
            RAISE EXCEPTION 'vector clock of % % lost or decreased a node counter',
                TG_TABLE_NAME, OLD.id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    NEW.updated_at := emr_now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER trg_departments_updated_at BEFORE UPDATE ON departments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_shifts_updated_at BEFORE UPDATE ON shifts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE tasks DROP COLUMN ingested_at, DROP COLUMN applied_at;
ALTER TABLE handovers DROP COLUMN ingested_at, DROP COLUMN applied_at;
ALTER TABLE emr_verifications DROP COLUMN ingested_at, DROP COLUMN applied_at;
ALTER TABLE departments DROP COLUMN ingested_at, DROP COLUMN field_clocks;
ALTER TABLE users DROP COLUMN ingested_at, DROP COLUMN field_clocks;
ALTER TABLE patients DROP COLUMN ingested_at, DROP COLUMN field_clocks;
ALTER TABLE shifts DROP COLUMN ingested_at, DROP COLUMN field_clocks;

-- Refused if two patients now share an EMR identity: resolve them first.
DROP INDEX idx_patients_emr_identity;
ALTER TABLE patients ADD CONSTRAINT uq_patients_emr_identity UNIQUE (emr_system, emr_id);

DROP TABLE reference_conflicts;
DROP VIEW identity_contradictions;
DROP TABLE identity_aliases;
DROP FUNCTION emr_clock_after(jsonb, jsonb);
DROP FUNCTION emr_identity_id(text, text);
