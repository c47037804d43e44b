-- Who redrove a dead letter, reliably: every redrive is a new row (a forced redrive no
-- longer overwrites the earlier record), the database stamps who and when (session_user,
-- not a name the client sends), and the history is append-only, for the processor role
-- and the owner alike. An operator may add a note (`dlq redrive --operator`), kept beside
-- the role, never instead of it.
ALTER TABLE dlq_redrives DROP CONSTRAINT dlq_redrives_pkey;
ALTER TABLE dlq_redrives ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                         ADD COLUMN operator_note text
                             CHECK (operator_note IS NULL OR length(operator_note) <= 200);
CREATE INDEX idx_dlq_redrives_letter ON dlq_redrives (dlq_topic, dlq_partition, dlq_offset);
COMMENT ON COLUMN dlq_redrives.redriven_by IS
    'The database role (session_user) that inserted the row, set by the server';

CREATE FUNCTION dlq_redrives_stamp() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    NEW.redriven_by := session_user;
    NEW.redriven_at := public.emr_now();
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_dlq_redrives_stamp BEFORE INSERT ON dlq_redrives
    FOR EACH ROW EXECUTE FUNCTION dlq_redrives_stamp();

CREATE FUNCTION dlq_redrives_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'dlq_redrives is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER trg_dlq_redrives_append_only BEFORE UPDATE OR DELETE ON dlq_redrives
    FOR EACH ROW EXECUTE FUNCTION dlq_redrives_append_only();
CREATE TRIGGER trg_dlq_redrives_no_truncate BEFORE TRUNCATE ON dlq_redrives
    FOR EACH STATEMENT EXECUTE FUNCTION dlq_redrives_append_only();

REVOKE UPDATE ON dlq_redrives FROM emr_processor;
