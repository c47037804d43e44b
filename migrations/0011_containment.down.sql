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

REVOKE UPDATE (set_aside_at, set_aside_reason) ON state_outbox FROM emr_processor;
DROP INDEX IF EXISTS idx_state_outbox_pending;
ALTER TABLE state_outbox DROP COLUMN set_aside_reason, DROP COLUMN set_aside_at;

DROP INDEX IF EXISTS idx_dlq_redrives_source;
ALTER TABLE dlq_redrives DROP COLUMN source_offset, DROP COLUMN source_partition,
                         DROP COLUMN source_topic;

DROP TABLE dead_letters;
