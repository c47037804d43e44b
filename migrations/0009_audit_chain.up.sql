-- Tamper evidence for the audit trail: every audit_logs row is a link of a SHA-256 hash
-- chain, one chain per chain key ('<topic>:<partition>' for processor rows, 'local' for
-- rows without provenance). A BEFORE INSERT trigger numbers the row in its chain, records
-- the previous row's hash and the row's own hash; the chain's head in audit_chain_heads
-- advances at commit. `emr-streams audit verify` recomputes every hash outside the
-- database; docs/schema.md "Tamper evidence" defines the canonical form (version 1):
--
--   row_hash = sha256(prev_hash || field(chain_key) || field(chain_seq) || field(id) ||
--                     field(created_at) || ... || field(details))
--   field(v) = '\xffffffff' when v is NULL, else int4 big-endian byte length || UTF-8 bytes
--
-- Rows already present are chained here, in (created_at, id) order per chain; the
-- immutability trigger is disabled for that UPDATE inside this migration's transaction
-- only (ALTER TABLE takes a lock that keeps every other session out until commit).

ALTER TABLE audit_logs
    ADD COLUMN chain_key text,
    ADD COLUMN chain_seq bigint,
    ADD COLUMN prev_hash bytea,
    ADD COLUMN row_hash  bytea;

COMMENT ON COLUMN audit_logs.chain_key IS
    'Hash chain of the row: <topic>:<partition>, or local when topic is NULL';
COMMENT ON COLUMN audit_logs.chain_seq IS 'Position in the chain, from 1, without gaps';
COMMENT ON COLUMN audit_logs.prev_hash IS 'row_hash of the previous row (32 zero bytes first)';
COMMENT ON COLUMN audit_logs.row_hash IS
    'sha256(prev_hash || canonical fields), see docs/schema.md "Tamper evidence"';

CREATE TABLE audit_chain_heads (
    chain_key  text        PRIMARY KEY,
    last_seq   bigint      NOT NULL CHECK (last_seq >= 0),
    last_hash  bytea       NOT NULL CHECK (octet_length(last_hash) = 32),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE audit_chain_heads IS
    'The last link of each audit hash chain; written only by the audit_logs insert trigger';

-- One field of the canonical form: NULL is 0xFFFFFFFF, a value is its UTF-8 byte length
-- (int4, big-endian) followed by the bytes, so no two field lists give the same bytes.
CREATE FUNCTION audit_chain_field(value text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN '\xffffffff'::bytea
                ELSE int4send(octet_length(convert_to(value, 'UTF8')))
                     || convert_to(value, 'UTF8') END
$$;

-- The hash of one row. Renderings: uuid lowercase with hyphens, created_at as microseconds
-- since 1970-01-01 UTC, integers in decimal, booleans true/false, inet and jsonb as their
-- PostgreSQL text output (jsonb's is normalized: keys sorted, fixed spacing).
CREATE FUNCTION audit_chain_hash(prev_hash bytea, chain_key text, chain_seq bigint, id uuid,
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

-- BEFORE INSERT: link the new row into its chain. The first row of a chain in a
-- transaction locks the chain's head row (another transaction writing that chain waits
-- until this one ends, then reads the head it left), so a chain has no gaps and no forks.
-- The chain's running (seq, hash) is then kept in a transaction-local setting, not written
-- to the head row per audit row: updating one row many times in a transaction makes each
-- update walk all its earlier versions (quadratic in the batch size). The head row is
-- written once per chain and transaction, at commit (audit_chain_flush). The chain
-- columns a client gives are overwritten. SECURITY DEFINER: writers need no privilege on
-- audit_chain_heads.
CREATE FUNCTION audit_chain_link() RETURNS trigger
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

-- At commit (a deferred constraint trigger per audit row): write each chain's final
-- (seq, hash) to its head row, once per chain and transaction; the other rows' calls
-- find it written and return. A rolled-back savepoint takes its rows, their trigger
-- events and its setting changes with it, so the head always matches the committed rows.
CREATE FUNCTION audit_chain_flush() RETURNS trigger
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

-- Chain the rows already present, then open the chains' heads at their last rows.
ALTER TABLE audit_logs DISABLE TRIGGER trg_audit_logs_immutable;
DO $backfill$
DECLARE
    r record;
    key text;
    current_key text;
    seq bigint := 0;
    prev bytea := decode(repeat('00', 32), 'hex');
    hash bytea;
BEGIN
    FOR r IN
        SELECT * FROM audit_logs
        ORDER BY coalesce(topic || ':' || "partition", 'local'), created_at, id
    LOOP
        key := coalesce(r.topic || ':' || r."partition", 'local');
        IF current_key IS DISTINCT FROM key THEN
            IF current_key IS NOT NULL THEN
                INSERT INTO audit_chain_heads (chain_key, last_seq, last_hash)
                VALUES (current_key, seq, prev);
            END IF;
            current_key := key;
            seq := 0;
            prev := decode(repeat('00', 32), 'hex');
        END IF;
        seq := seq + 1;
        hash := audit_chain_hash(prev, key, seq, r.id, r.created_at, r.event_id, r.event_type,
                                 r.action, r.entity_type, r.entity_id, r.actor_id,
                                 r.actor_role, r.patient_id, r.emr_system, r.source_system,
                                 r.topic, r."partition", r."offset", r.ip_address,
                                 r.user_agent, r.session_id, r.phi_accessed, r.details);
        UPDATE audit_logs
        SET chain_key = key, chain_seq = seq, prev_hash = prev, row_hash = hash
        WHERE id = r.id AND created_at = r.created_at;
        prev := hash;
    END LOOP;
    IF current_key IS NOT NULL THEN
        INSERT INTO audit_chain_heads (chain_key, last_seq, last_hash)
        VALUES (current_key, seq, prev);
    END IF;
END
$backfill$;
ALTER TABLE audit_logs ENABLE TRIGGER trg_audit_logs_immutable;

ALTER TABLE audit_logs
    ALTER COLUMN chain_key SET NOT NULL,
    ALTER COLUMN chain_seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN row_hash SET NOT NULL,
    ADD CONSTRAINT chk_audit_logs_chain
        CHECK (chain_seq >= 1 AND octet_length(prev_hash) = 32
               AND octet_length(row_hash) = 32);

CREATE INDEX idx_audit_logs_chain ON audit_logs (chain_key, chain_seq);

-- "zz": BEFORE triggers fire in name order; this one must be last, so that it hashes the
-- row exactly as it is stored.
CREATE TRIGGER trg_audit_logs_zz_chain BEFORE INSERT ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_chain_link();
CREATE CONSTRAINT TRIGGER trg_audit_logs_chain_head AFTER INSERT ON audit_logs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION audit_chain_flush();

-- Roles (0008): the auditor verifies chains, so reads the heads; writers need nothing
-- (the trigger function runs with its owner's rights).
GRANT SELECT ON audit_chain_heads TO emr_auditor;
