-- Back to 0009's audit_chain_hash and 0013's audit_chain_flush (the same hashes).
CREATE OR REPLACE FUNCTION audit_chain_hash(prev_hash bytea, chain_key text, chain_seq bigint, id uuid,
                                 created_at timestamptz, event_id uuid, event_type text,
                                 action text, entity_type text, entity_id uuid, actor_id uuid,
                                 actor_role text, patient_id uuid, emr_system emr_system,
                                 source_system text, topic text, "partition" integer,
                                 "offset" bigint, ip_address inet, user_agent text,
                                 session_id text, phi_accessed boolean, details jsonb)
RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(prev_hash
        || audit_chain_field(chain_key)
        || audit_chain_field(chain_seq::text)
        || audit_chain_field(id::text)
        || audit_chain_field((extract(epoch FROM created_at) * 1000000)::bigint::text)
        || audit_chain_field(event_id::text)
        || audit_chain_field(event_type)
        || audit_chain_field(action)
        || audit_chain_field(entity_type)
        || audit_chain_field(entity_id::text)
        || audit_chain_field(actor_id::text)
        || audit_chain_field(actor_role)
        || audit_chain_field(patient_id::text)
        || audit_chain_field(emr_system::text)
        || audit_chain_field(source_system)
        || audit_chain_field(topic)
        || audit_chain_field("partition"::text)
        || audit_chain_field("offset"::text)
        || audit_chain_field(ip_address::text)
        || audit_chain_field(user_agent)
        || audit_chain_field(session_id)
        || audit_chain_field(phi_accessed::text)
        || audit_chain_field(details::text))
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

DROP FUNCTION IF EXISTS audit_chain_bytes(bytea);
