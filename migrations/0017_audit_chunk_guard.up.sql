-- TimescaleDB: the audit trail's guards on every chunk and compressed chunk too.
--
-- A chunk takes the hypertable's grants when it is created (so emr_processor could INSERT
-- into a chunk directly, and into the compressed chunks, which have no triggers: rows that
-- no chain covers), and no statement trigger (so TRUNCATE of one chunk, or of its
-- compressed chunk, went through). audit_guard_chunks() revokes every privilege of the
-- application roles on the chunks (inserts through audit_logs itself are unaffected: the
-- hypertable's grants are what TimescaleDB checks) and adds the TRUNCATE guard to each.
-- The migration runs it once, maintenance hourly, and the worker at every check of the
-- audit partitions (EMR_STREAMS_PROCESSOR_PARTITION_CHECK_INTERVAL, 300 s): it is SECURITY
-- DEFINER and emr_processor may execute it, because it only ever takes privileges away
-- and adds the guard. On the native path the partition functions already do both, and it
-- does nothing.

CREATE FUNCTION audit_guard_chunks() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    chunk regclass;
    guarded integer := 0;
BEGIN
    IF audit_backend() <> 'timescaledb' THEN
        RETURN 0;
    END IF;
    -- The chunks of audit_logs, of its compressed hypertable, and that hypertable itself
    -- (TimescaleDB's catalog: no public view names the compressed chunks).
    FOR chunk IN
        SELECT relation FROM (
            SELECT to_regclass(format('%I.%I', c.schema_name, c.table_name)) AS relation
              FROM _timescaledb_catalog.chunk c
             WHERE c.hypertable_id = audit_hypertable_id()
                OR c.hypertable_id = (SELECT compressed_hypertable_id
                                        FROM _timescaledb_catalog.hypertable
                                       WHERE id = audit_hypertable_id())
            UNION ALL
            SELECT to_regclass(format('%I.%I', h.schema_name, h.table_name))
              FROM _timescaledb_catalog.hypertable h
             WHERE h.id = (SELECT compressed_hypertable_id FROM _timescaledb_catalog.hypertable
                            WHERE id = audit_hypertable_id())
        ) found
        WHERE relation IS NOT NULL  -- a chunk dropped by retention leaves a catalog row
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, emr_processor, emr_reader, emr_auditor',
                       chunk);
        IF NOT EXISTS (SELECT 1 FROM pg_trigger
                        WHERE tgrelid = chunk AND tgname = 'trg_audit_logs_no_truncate') THEN
            EXECUTE format('CREATE TRIGGER trg_audit_logs_no_truncate BEFORE TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change()', chunk);
            guarded := guarded + 1;
        END IF;
    END LOOP;
    RETURN guarded;
END;
$$;
COMMENT ON FUNCTION audit_guard_chunks() IS
    'TimescaleDB: no privilege of the application roles and a TRUNCATE guard on every '
    'chunk and compressed chunk of audit_logs; returns how many it newly guarded.';

-- The id of audit_logs in TimescaleDB's catalog (NULL on the native path).
CREATE FUNCTION audit_hypertable_id() RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF audit_backend() <> 'timescaledb' THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT h.id FROM _timescaledb_catalog.hypertable h
              JOIN pg_class c ON c.oid = 'audit_logs'::regclass
             WHERE h.schema_name = c.relnamespace::regnamespace::text
               AND h.table_name = 'audit_logs');
END;
$$;

REVOKE EXECUTE ON FUNCTION audit_guard_chunks(), audit_hypertable_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_guard_chunks() TO emr_processor;
SELECT audit_guard_chunks();
