DROP TRIGGER IF EXISTS trg_audit_logs_chain_head ON audit_logs;
DROP TRIGGER IF EXISTS trg_audit_logs_zz_chain ON audit_logs;
DROP INDEX IF EXISTS idx_audit_logs_chain;
ALTER TABLE audit_logs
    DROP CONSTRAINT IF EXISTS chk_audit_logs_chain,
    DROP COLUMN IF EXISTS row_hash,
    DROP COLUMN IF EXISTS prev_hash,
    DROP COLUMN IF EXISTS chain_seq,
    DROP COLUMN IF EXISTS chain_key;
DROP FUNCTION IF EXISTS audit_chain_flush();
DROP FUNCTION IF EXISTS audit_chain_link();
DROP FUNCTION IF EXISTS audit_chain_hash(bytea, text, bigint, uuid, timestamptz, uuid, text,
                                         text, text, uuid, uuid, text, uuid, emr_system, text,
                                         text, integer, bigint, inet, text, text, boolean,
                                         jsonb);
DROP FUNCTION IF EXISTS audit_chain_field(text);
DROP TABLE IF EXISTS audit_chain_heads;
