-- Back to 0009's trigger functions (running state in a transaction-local setting).
CREATE OR REPLACE FUNCTION audit_chain_link() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    key constant text := coalesce(NEW.topic || ':' || NEW."partition", 'local');
    cache constant text := 'emr_streams_chain.h' || md5(key);
    cached constant text := current_setting(cache, true);
    seq bigint;
    prev bytea;
BEGIN
    IF cached IS NULL OR cached = '' THEN
        SELECT last_seq, last_hash INTO seq, prev
        FROM audit_chain_heads WHERE chain_key = key FOR UPDATE;
        IF NOT FOUND THEN
            -- First row of this chain: create the head; a concurrent creator wins the race
            -- and this insert waits for it, then locks the head it made.
            INSERT INTO audit_chain_heads (chain_key, last_seq, last_hash)
            VALUES (key, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT (chain_key) DO NOTHING;
            SELECT last_seq, last_hash INTO STRICT seq, prev
            FROM audit_chain_heads WHERE chain_key = key FOR UPDATE;
        END IF;
    ELSE
        seq := split_part(cached, ':', 1)::bigint;
        prev := decode(split_part(cached, ':', 2), 'hex');
    END IF;
    NEW.chain_key := key;
    NEW.chain_seq := seq + 1;
    NEW.prev_hash := prev;
    NEW.row_hash := audit_chain_hash(prev, key, seq + 1, NEW.id, NEW.created_at, NEW.event_id,
                                     NEW.event_type, NEW.action, NEW.entity_type,
                                     NEW.entity_id, NEW.actor_id, NEW.actor_role,
                                     NEW.patient_id, NEW.emr_system, NEW.source_system,
                                     NEW.topic, NEW."partition", NEW."offset",
                                     NEW.ip_address, NEW.user_agent, NEW.session_id,
                                     NEW.phi_accessed, NEW.details);
    PERFORM set_config(cache, NEW.chain_seq || ':' || encode(NEW.row_hash, 'hex'), true);
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION audit_chain_flush() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    suffix constant text := md5(NEW.chain_key);
    cached constant text := current_setting('emr_streams_chain.h' || suffix, true);
BEGIN
    IF cached IS NULL OR cached = ''
       OR current_setting('emr_streams_chain.f' || suffix, true) = cached THEN
        RETURN NULL;
    END IF;
    UPDATE audit_chain_heads
    SET last_seq = split_part(cached, ':', 1)::bigint,
        last_hash = decode(split_part(cached, ':', 2), 'hex'), updated_at = now()
    WHERE chain_key = NEW.chain_key;
    PERFORM set_config('emr_streams_chain.f' || suffix, cached, true);
    RETURN NULL;
END;
$$;

DROP TABLE audit_chain_running;
