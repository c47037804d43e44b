-- The audit hash chain at a cost linear in the rows written (the same chain, the same
-- hashes: docs/schema.md "Tamper evidence", canonical form version 1).
--
-- * audit_chain_flush, the deferred constraint trigger that writes each chain's head at
--   commit, ran once per audit row and looked for the transaction's last running row of
--   the chain each time. After the first call had written the head and deleted the
--   running rows, each later call scanned past every deleted (in this transaction, so
--   still indexed) running row: quadratic in the rows per transaction (a transaction of
--   10,000 audit rows wrote 1,573 rows/s, of 200 rows 8,406/s). A later call now sees from
--   the head, by its primary key, that its row is already covered, and returns.
-- * audit_chain_hash called audit_chain_field(text), which names its argument three
--   times, so PostgreSQL could not inline it for an argument that is itself an expression
--   (chain_seq::text, details::text, ...) and ran 22 SQL function calls per row (34 us of
--   the 40 us a hash took). audit_chain_bytes(bytea) names the converted value once per
--   use and inlines; the bytes hashed are the same (measured on 20,000 rows: no hash
--   differs; tests/migrations/test_audit_chain.py checks the database against
--   streams.audit.canonical).

CREATE FUNCTION audit_chain_bytes(value bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN '\xffffffff'::bytea
                ELSE int4send(length(value)) || value END
$$;
COMMENT ON FUNCTION audit_chain_bytes(bytea) IS
    'One field of the audit chain''s canonical form: NULL as ffffffff, else its int4 '
    'big-endian byte length and its bytes (the UTF-8 of the field''s text)';

CREATE OR REPLACE FUNCTION audit_chain_hash(
    prev_hash bytea, chain_key text, chain_seq bigint, id uuid, created_at timestamptz,
    event_id uuid, event_type text, action text, entity_type text, entity_id uuid,
    actor_id uuid, actor_role text, patient_id uuid, emr_system emr_system,
    source_system text, topic text, "partition" integer, "offset" bigint, ip_address inet,
    user_agent text, session_id text, phi_accessed boolean, details jsonb)
RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(prev_hash
        || audit_chain_bytes(convert_to(chain_key, 'UTF8'))
        || audit_chain_bytes(convert_to(chain_seq::text, 'UTF8'))
        || audit_chain_bytes(convert_to(id::text, 'UTF8'))
        || audit_chain_bytes(convert_to(
               (extract(epoch FROM created_at) * 1000000)::bigint::text, 'UTF8'))
        || audit_chain_bytes(convert_to(event_id::text, 'UTF8'))
        || audit_chain_bytes(convert_to(event_type, 'UTF8'))
        || audit_chain_bytes(convert_to(action, 'UTF8'))
        || audit_chain_bytes(convert_to(entity_type, 'UTF8'))
        || audit_chain_bytes(convert_to(entity_id::text, 'UTF8'))
        || audit_chain_bytes(convert_to(actor_id::text, 'UTF8'))
        || audit_chain_bytes(convert_to(actor_role, 'UTF8'))
        || audit_chain_bytes(convert_to(patient_id::text, 'UTF8'))
        || audit_chain_bytes(convert_to(emr_system::text, 'UTF8'))
        || audit_chain_bytes(convert_to(source_system, 'UTF8'))
        || audit_chain_bytes(convert_to(topic, 'UTF8'))
        || audit_chain_bytes(convert_to("partition"::text, 'UTF8'))
        || audit_chain_bytes(convert_to("offset"::text, 'UTF8'))
        || audit_chain_bytes(convert_to(ip_address::text, 'UTF8'))
        || audit_chain_bytes(convert_to(user_agent, 'UTF8'))
        || audit_chain_bytes(convert_to(session_id, 'UTF8'))
        || audit_chain_bytes(convert_to(phi_accessed::text, 'UTF8'))
        || audit_chain_bytes(convert_to(details::text, 'UTF8')))
$$;

CREATE OR REPLACE FUNCTION audit_chain_flush() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    me constant xid8 := pg_current_xact_id();
    last record;
BEGIN
    -- Covered already: an earlier call of this commit wrote the head past this row (or
    -- the head is another transaction's, which cannot be: this one holds its lock).
    IF (SELECT h.last_seq FROM public.audit_chain_heads AS h
        WHERE h.chain_key = NEW.chain_key) >= NEW.chain_seq THEN
        RETURN NULL;
    END IF;
    SELECT r.seq, r.hash INTO last FROM public.audit_chain_running AS r
    WHERE r.xact = me AND r.chain_key = NEW.chain_key ORDER BY r.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE public.audit_chain_heads
    SET last_seq = last.seq, last_hash = last.hash, updated_at = now()
    WHERE chain_key = NEW.chain_key;
    DELETE FROM public.audit_chain_running WHERE xact = me AND chain_key = NEW.chain_key;
    RETURN NULL;
END;
$$;
