-- Identities and domain facts (docs/identities.md): every stored fact is a function of the
-- set of events, whatever order they arrive in.
--
-- 1. One row per natural key. A department is its code, a member of staff their username,
--    a patient their MRN (as the event carries it: plain, or its keyed blind index). The
--    row's id is derived from that key (emr_identity_id, the same function as
--    streams.contracts.identity); the ids producers minted are kept as aliases.
-- 2. Identity attributes (a name, a role, an EMR identity) merge like task fields: per
--    field, the snapshot with the greatest event clock wins (field_clocks).
-- 3. created_at / updated_at of the aggregates and identities come from events; the
--    processing times are kept apart, in ingested_at / applied_at.

-- The canonical id: UUIDv8, name-based with SHA-256 (RFC 9562, appendix B.2) over the
-- namespace 6f1e2a3c-8d4b-4e5f-9a07-b1c2d3e4f5a6 and "<kind>:<natural key>".
CREATE FUNCTION emr_identity_id(kind text, natural_key text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT encode(set_byte(set_byte(d, 6, (get_byte(d, 6) & 15) | 128),
                           8, (get_byte(d, 8) & 63) | 128), 'hex')::uuid
    FROM (SELECT substring(sha256(decode('6f1e2a3c8d4b4e5f9a07b1c2d3e4f5a6', 'hex')
                                  || convert_to(kind || ':' || natural_key, 'UTF8'))
                           FROM 1 FOR 16) AS d) AS s
$$;

-- Is the write clock a later than b? A clock is [physical_us, logical, node, event_id]
-- (streams.sink.merge.FieldClock); text compares byte-wise, as Python compares str.
CREATE FUNCTION emr_clock_after(a jsonb, b jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT a IS NOT NULL AND (b IS NULL OR
        ((a ->> 0)::bigint, (a ->> 1)::bigint, (a ->> 2) COLLATE "C",
         coalesce(a ->> 3, '') COLLATE "C")
        > ((b ->> 0)::bigint, (b ->> 1)::bigint, (b ->> 2) COLLATE "C",
           coalesce(b ->> 3, '') COLLATE "C"))
$$;

ALTER TABLE departments ADD COLUMN field_clocks jsonb NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN field_clocks jsonb NOT NULL DEFAULT '{}';
ALTER TABLE patients ADD COLUMN field_clocks jsonb NOT NULL DEFAULT '{}';
ALTER TABLE shifts ADD COLUMN field_clocks jsonb NOT NULL DEFAULT '{}';

-- The producers' ids. A row whose alias_id is also the id of another identity of its
-- kind, or which names two identities, is a contradiction (identity_contradictions).
CREATE TABLE identity_aliases (
    kind         text        NOT NULL CHECK (kind IN ('department', 'user', 'patient')),
    alias_id     uuid        NOT NULL,
    canonical_id uuid        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT emr_now(),
    PRIMARY KEY (kind, alias_id, canonical_id),
    CHECK (alias_id <> canonical_id)
);
CREATE INDEX idx_identity_aliases_canonical ON identity_aliases (kind, canonical_id);

-- Existing rows move to their canonical ids (the foreign keys cascade); their old ids
-- become aliases, so audit rows written before keep resolving.
INSERT INTO identity_aliases (kind, alias_id, canonical_id)
SELECT 'department', id, emr_identity_id('department', code) FROM departments
WHERE id <> emr_identity_id('department', code)
UNION ALL
SELECT 'user', id, emr_identity_id('user', username) FROM users
WHERE id <> emr_identity_id('user', username)
UNION ALL
SELECT 'patient', id, emr_identity_id('patient', mrn) FROM patients
WHERE id <> emr_identity_id('patient', mrn);
UPDATE departments SET id = emr_identity_id('department', code)
WHERE id <> emr_identity_id('department', code);
UPDATE users SET id = emr_identity_id('user', username)
WHERE id <> emr_identity_id('user', username);
UPDATE patients SET id = emr_identity_id('patient', mrn)
WHERE id <> emr_identity_id('patient', mrn);

-- One producer id used for several identities (e.g. patient A's id with B's MRN): each
-- event was applied to the identity its natural key names; this lists them for review.
-- It shows ids only, so it runs with its owner's rights (an auditor needs no privilege on
-- the identity tables to read it).
CREATE VIEW identity_contradictions AS
SELECT claims.kind, claims.producer_id,
       array_agg(DISTINCT claims.canonical_id ORDER BY claims.canonical_id) AS identities
FROM (SELECT kind, alias_id AS producer_id, canonical_id FROM identity_aliases
      UNION ALL
      SELECT a.kind, a.alias_id, a.alias_id FROM identity_aliases AS a
      WHERE (a.kind = 'department' AND EXISTS (SELECT 1 FROM departments WHERE id = a.alias_id))
         OR (a.kind = 'user' AND EXISTS (SELECT 1 FROM users WHERE id = a.alias_id))
         OR (a.kind = 'patient' AND EXISTS (SELECT 1 FROM patients WHERE id = a.alias_id)))
     AS claims
GROUP BY claims.kind, claims.producer_id
HAVING count(DISTINCT claims.canonical_id) > 1;

-- An event whose snapshot names other references (patient, creator, department, shifts,
-- task) than its aggregate holds: the earliest snapshot (by HLC) names them; each
-- contradiction is recorded here and the event is applied.
CREATE TABLE reference_conflicts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    aggregate_type text        NOT NULL,
    aggregate_id   uuid        NOT NULL,
    event_id       uuid        NOT NULL,
    field          text        NOT NULL,
    stored         text,
    claimed        text,
    resolved       text,
    resolution_rule text       NOT NULL,
    detected_at    timestamptz NOT NULL DEFAULT emr_now(),
    UNIQUE (event_id, field)
);
CREATE INDEX idx_reference_conflicts_aggregate
    ON reference_conflicts (aggregate_type, aggregate_id);

-- Two MRNs may claim one EMR identity (a contradiction of the sources, reviewable with
-- this index); refusing it would drop every clinical event of the second patient.
ALTER TABLE patients DROP CONSTRAINT uq_patients_emr_identity;
CREATE INDEX idx_patients_emr_identity ON patients (emr_system, emr_id);

-- Facts from events, processing times apart.
ALTER TABLE tasks ADD COLUMN ingested_at timestamptz NOT NULL DEFAULT emr_now(),
                  ADD COLUMN applied_at  timestamptz NOT NULL DEFAULT emr_now();
ALTER TABLE handovers ADD COLUMN ingested_at timestamptz NOT NULL DEFAULT emr_now(),
                      ADD COLUMN applied_at  timestamptz NOT NULL DEFAULT emr_now();
ALTER TABLE emr_verifications ADD COLUMN ingested_at timestamptz NOT NULL DEFAULT emr_now(),
                              ADD COLUMN applied_at  timestamptz NOT NULL DEFAULT emr_now();
ALTER TABLE departments ADD COLUMN ingested_at timestamptz NOT NULL DEFAULT emr_now();
ALTER TABLE users ADD COLUMN ingested_at timestamptz NOT NULL DEFAULT emr_now();
ALTER TABLE patients ADD COLUMN ingested_at timestamptz NOT NULL DEFAULT emr_now();
ALTER TABLE shifts ADD COLUMN ingested_at timestamptz NOT NULL DEFAULT emr_now();

DROP TRIGGER trg_departments_updated_at ON departments;
DROP TRIGGER trg_users_updated_at ON users;
DROP TRIGGER trg_shifts_updated_at ON shifts;

-- As in 0011, but the processing time goes to applied_at: updated_at is the event's.
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
    NEW.applied_at := emr_now();
    RETURN NEW;
END;
$$;

-- As in 0010, without stamping updated_at (the event's time, set by the processor).
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
    RETURN NEW;
END;
$$;

-- The processor merges identity attributes: it reads the clocks and the non-PHI columns
-- of the rows it merges into and updates the mergeable columns (never the natural key,
-- never the id). A patient's PHI is one register it overwrites without reading it.
GRANT SELECT ON departments, users, shifts TO emr_processor;
GRANT SELECT (id, mrn, emr_system, emr_id, field_clocks, created_at, updated_at)
    ON patients TO emr_processor;
GRANT UPDATE (name, field_clocks, created_at, updated_at) ON departments TO emr_processor;
GRANT UPDATE (display_name, role, field_clocks, created_at, updated_at)
    ON users TO emr_processor;
GRANT UPDATE (emr_system, emr_id, first_name, last_name, date_of_birth, encrypted_data,
              field_clocks, created_at, updated_at) ON patients TO emr_processor;
GRANT UPDATE (department_id, supervisor_id, starts_at, ends_at, field_clocks, created_at,
              updated_at) ON shifts TO emr_processor;
GRANT INSERT ON identity_aliases, reference_conflicts TO emr_processor;
GRANT SELECT ON identity_aliases, identity_contradictions, reference_conflicts
    TO emr_auditor;
