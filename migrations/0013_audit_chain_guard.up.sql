-- The audit chain's trigger trusts nothing the session can set or shadow (0009 kept the
-- running (seq, hash) of each chain in a session-settable setting and searched pg_temp
-- first: a processor session could read the head with current_setting(), forge the
-- setting to insert a row at any position, or shadow audit_chain_heads with a temporary
-- table).
--
-- * The running state of a transaction's chains lives in audit_chain_running, owned by
--   the schema owner with no privilege for anyone else; the SECURITY DEFINER trigger
--   functions alone read and write it. A chain's rows are appended (one row per audit
--   row, never updated: no version chains) and deleted at commit, when the head is
--   written, so the table is empty outside transactions. A rolled-back savepoint takes
--   its rows with it, as before.
-- * The functions run with search_path = pg_catalog, public, pg_temp: pg_temp explicitly
--   last (not listed, it is searched first, so a temporary table could shadow a real
--   one), and name every table with its schema. Nobody but the owner may create objects
--   in public (PostgreSQL 15+), so nothing there can stand in for the functions it calls.
CREATE UNLOGGED TABLE audit_chain_running (
    xact      xid8   NOT NULL,
    chain_key text   NOT NULL,
    seq       bigint NOT NULL,
    hash      bytea  NOT NULL,
    PRIMARY KEY (xact, chain_key, seq)
);
COMMENT ON TABLE audit_chain_running IS
    'The audit chains'' running (seq, hash) inside the transactions writing them; written '
    'and read only by the chain triggers, empty outside transactions';
REVOKE ALL ON audit_chain_running FROM PUBLIC;

CREATE OR REPLACE FUNCTION audit_chain_link() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    key constant text := coalesce(NEW.topic || ':' || NEW."partition", 'local');
    me constant xid8 := pg_current_xact_id();
    seq bigint;
    prev bytea;
BEGIN
    SELECT r.seq, r.hash INTO seq, prev FROM public.audit_chain_running AS r
    WHERE r.xact = me AND r.chain_key = key ORDER BY r.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        -- First row of this chain in this transaction: lock the head (another writer of
        -- the chain waits until this transaction ends, then reads the head it left).
        SELECT h.last_seq, h.last_hash INTO seq, prev
        FROM public.audit_chain_heads AS h WHERE h.chain_key = key FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO public.audit_chain_heads (chain_key, last_seq, last_hash)
            VALUES (key, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT (chain_key) DO NOTHING;
            SELECT h.last_seq, h.last_hash INTO STRICT seq, prev
            FROM public.audit_chain_heads AS h WHERE h.chain_key = key FOR UPDATE;
        END IF;
    END IF;
    NEW.chain_key := key;
    NEW.chain_seq := seq + 1;
    NEW.prev_hash := prev;
    NEW.row_hash := public.audit_chain_hash(
        prev, key, seq + 1, NEW.id, NEW.created_at, NEW.event_id, NEW.event_type, NEW.action,
        NEW.entity_type, NEW.entity_id, NEW.actor_id, NEW.actor_role, NEW.patient_id,
        NEW.emr_system, NEW.source_system, NEW.topic, NEW."partition", NEW."offset",
        NEW.ip_address, NEW.user_agent, NEW.session_id, NEW.phi_accessed, NEW.details);
    INSERT INTO public.audit_chain_running (xact, chain_key, seq, hash)
    VALUES (me, key, NEW.chain_seq, NEW.row_hash);
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION audit_chain_flush() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    me constant xid8 := pg_current_xact_id();
    last record;
BEGIN
    SELECT r.seq, r.hash INTO last FROM public.audit_chain_running AS r
    WHERE r.xact = me AND r.chain_key = NEW.chain_key ORDER BY r.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;  -- this chain's head is already written for this transaction
    END IF;
    UPDATE public.audit_chain_heads
    SET last_seq = last.seq, last_hash = last.hash, updated_at = now()
    WHERE chain_key = NEW.chain_key;
    DELETE FROM public.audit_chain_running WHERE xact = me AND chain_key = NEW.chain_key;
    RETURN NULL;
END;
$$;
