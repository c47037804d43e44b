-- The seed's normalized data model: enums, users, departments, shifts, patients, tasks,
-- emr_verifications and handovers, with the 13 foreign keys the seed lists, its indexes,
-- row-level security on tasks, the MRN/DOB validation trigger, vector clock / HLC columns
-- with their update triggers, and the patient task summary view.

-- Enums -------------------------------------------------------------------------------
CREATE TYPE task_status AS ENUM ('PENDING', 'IN_PROGRESS', 'BLOCKED', 'COMPLETED', 'CANCELLED');
CREATE TYPE task_priority AS ENUM ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL');
CREATE TYPE user_role AS ENUM ('NURSE', 'DOCTOR', 'SUPERVISOR', 'ADMIN', 'AUDITOR');
CREATE TYPE emr_system AS ENUM ('EPIC', 'CERNER', 'GENERIC_FHIR');
CREATE TYPE verification_status AS ENUM ('PENDING', 'VERIFIED', 'FAILED');
CREATE TYPE handover_status AS ENUM ('INITIATED', 'ACCEPTED', 'REJECTED', 'COMPLETED');

-- Shared trigger functions ------------------------------------------------------------

-- updated_at follows every change.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- Vector clock + HLC guard for the replicated aggregates: the clock is a JSON object of
-- node id -> non-negative integer counter, the HLC never moves backwards, and no node's
-- counter decreases (merges take the element-wise maximum).
CREATE FUNCTION check_vector_clock(clock jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_typeof(clock) = 'object'
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_each(clock) AS e(node, counter)
           WHERE jsonb_typeof(e.counter) <> 'number'
              OR (e.counter)::numeric < 0
              OR (e.counter)::numeric <> trunc((e.counter)::numeric)
              OR length(e.node) = 0)
$$;

CREATE FUNCTION guard_clock_update() RETURNS trigger
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
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- Reference data -----------------------------------------------------------------------
CREATE TABLE departments (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_-]{1,32}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    username     text NOT NULL UNIQUE,
    display_name text NOT NULL,
    role         user_role NOT NULL,
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shifts (
    id            uuid PRIMARY KEY,
    department_id uuid NOT NULL,
    supervisor_id uuid NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chk_shifts_time_order CHECK (ends_at > starts_at),
    CONSTRAINT fk_shifts_department FOREIGN KEY (department_id)
        REFERENCES departments (id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT fk_shifts_supervisor FOREIGN KEY (supervisor_id)
        REFERENCES users (id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX idx_shifts_department_starts ON shifts (department_id, starts_at);
CREATE INDEX idx_shifts_supervisor ON shifts (supervisor_id);

-- Patients -----------------------------------------------------------------------------
-- PHI: names and date of birth are encrypted by the application into encrypted_data;
-- the plaintext columns stay NULL where encryption is on (issue #8).
CREATE TABLE patients (
    id             uuid PRIMARY KEY,
    mrn            text NOT NULL,
    first_name     text,
    last_name      text,
    date_of_birth  date,
    emr_system     emr_system NOT NULL,
    emr_id         text NOT NULL,
    encrypted_data jsonb,
    is_active      boolean NOT NULL DEFAULT true,
    deleted_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_patients_mrn UNIQUE (mrn),
    CONSTRAINT uq_patients_emr_identity UNIQUE (emr_system, emr_id),
    CONSTRAINT chk_patients_encrypted_data
        CHECK (encrypted_data IS NULL OR jsonb_typeof(encrypted_data) = 'object')
);
CREATE INDEX idx_patients_is_active ON patients (is_active) WHERE deleted_at IS NULL;
CREATE INDEX idx_patients_created_at ON patients (created_at);

-- MRN: 6 to 20 upper-case letters and digits; DOB: not in the future, not before 1900.
-- Messages never repeat the value (it is PHI).
CREATE FUNCTION validate_patient() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.mrn !~ '^[A-Z0-9]{6,20}$' THEN
        RAISE EXCEPTION 'invalid MRN format: expected 6 to 20 upper-case letters or digits'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.date_of_birth IS NOT NULL AND NEW.date_of_birth > current_date THEN
        RAISE EXCEPTION 'invalid date of birth: in the future'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.date_of_birth IS NOT NULL AND NEW.date_of_birth < DATE '1900-01-01' THEN
        RAISE EXCEPTION 'invalid date of birth: before 1900-01-01'
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_patients_validate BEFORE INSERT OR UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION validate_patient();

-- Tasks --------------------------------------------------------------------------------
CREATE TABLE tasks (
    id            uuid PRIMARY KEY,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    description   text,
    status        task_status NOT NULL DEFAULT 'PENDING',
    priority      task_priority NOT NULL DEFAULT 'MEDIUM',
    patient_id    uuid NOT NULL,
    assigned_to   uuid,
    created_by    uuid NOT NULL,
    department_id uuid NOT NULL,
    shift_id      uuid,
    due_date      timestamptz,
    completed_at  timestamptz,
    emr_system    emr_system,
    emr_reference text,
    vector_clock  jsonb NOT NULL DEFAULT '{}',
    hlc_physical  bigint NOT NULL DEFAULT 0,
    hlc_logical   integer NOT NULL DEFAULT 0,
    origin_node   text,
    last_event_id uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chk_tasks_vector_clock CHECK (check_vector_clock(vector_clock)),
    CONSTRAINT chk_tasks_hlc CHECK (hlc_physical >= 0 AND hlc_logical >= 0),
    CONSTRAINT fk_tasks_patient FOREIGN KEY (patient_id)
        REFERENCES patients (id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT fk_tasks_assigned_to FOREIGN KEY (assigned_to)
        REFERENCES users (id) ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT fk_tasks_created_by FOREIGN KEY (created_by)
        REFERENCES users (id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT fk_tasks_department FOREIGN KEY (department_id)
        REFERENCES departments (id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT fk_tasks_shift FOREIGN KEY (shift_id)
        REFERENCES shifts (id) ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE INDEX idx_tasks_department_status_due ON tasks (department_id, status, due_date);
CREATE INDEX idx_tasks_assigned_status ON tasks (assigned_to, status);
CREATE INDEX idx_tasks_patient_id ON tasks (patient_id);
CREATE INDEX idx_tasks_vector_clock ON tasks USING gin (vector_clock jsonb_path_ops);
CREATE INDEX idx_tasks_hlc ON tasks (hlc_physical, hlc_logical);
CREATE TRIGGER trg_tasks_clock BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION guard_clock_update();

-- Row-level security: a reader sees the tasks of the department its session names in
-- the setting emr_streams.department_id (no setting: no rows). The table owner (the
-- processor's role) is not subject to it; FORCE is deliberately not set.
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tasks_department_isolation ON tasks
    USING (department_id = nullif(current_setting('emr_streams.department_id', true), '')::uuid)
    WITH CHECK (department_id
                = nullif(current_setting('emr_streams.department_id', true), '')::uuid);

-- EMR verifications --------------------------------------------------------------------
CREATE TABLE emr_verifications (
    id             uuid PRIMARY KEY,
    task_id        uuid NOT NULL,
    verified_by    uuid NOT NULL,
    status         verification_status NOT NULL DEFAULT 'PENDING',
    emr_system     emr_system NOT NULL,
    emr_reference  text,
    checked_fields jsonb NOT NULL DEFAULT '[]',
    failure_reason text,
    verified_at    timestamptz,
    vector_clock   jsonb NOT NULL DEFAULT '{}',
    hlc_physical   bigint NOT NULL DEFAULT 0,
    hlc_logical    integer NOT NULL DEFAULT 0,
    origin_node    text,
    last_event_id  uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chk_emr_verifications_vector_clock CHECK (check_vector_clock(vector_clock)),
    CONSTRAINT chk_emr_verifications_hlc CHECK (hlc_physical >= 0 AND hlc_logical >= 0),
    CONSTRAINT chk_emr_verifications_checked_fields
        CHECK (jsonb_typeof(checked_fields) = 'array'),
    CONSTRAINT fk_emr_verifications_task FOREIGN KEY (task_id)
        REFERENCES tasks (id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT fk_emr_verifications_verified_by FOREIGN KEY (verified_by)
        REFERENCES users (id) ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX idx_emr_verifications_vector_clock
    ON emr_verifications (task_id, hlc_physical, hlc_logical, origin_node);
CREATE INDEX idx_emr_verifications_verified_at ON emr_verifications (verified_at);
CREATE INDEX idx_emr_verifications_verified_by ON emr_verifications (verified_by);
CREATE TRIGGER trg_emr_verifications_clock BEFORE UPDATE ON emr_verifications
    FOR EACH ROW EXECUTE FUNCTION guard_clock_update();

-- Handovers ----------------------------------------------------------------------------
CREATE TABLE handovers (
    id            uuid PRIMARY KEY,
    from_shift_id uuid NOT NULL,
    to_shift_id   uuid NOT NULL,
    initiated_by  uuid NOT NULL,
    accepted_by   uuid,
    status        handover_status NOT NULL DEFAULT 'INITIATED',
    task_ids      uuid[] NOT NULL DEFAULT '{}',
    notes         text,
    initiated_at  timestamptz NOT NULL DEFAULT now(),
    accepted_at   timestamptz,
    completed_at  timestamptz,
    vector_clock  jsonb NOT NULL DEFAULT '{}',
    hlc_physical  bigint NOT NULL DEFAULT 0,
    hlc_logical   integer NOT NULL DEFAULT 0,
    origin_node   text,
    last_event_id uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chk_handovers_distinct_shifts CHECK (from_shift_id <> to_shift_id),
    CONSTRAINT chk_handovers_vector_clock CHECK (check_vector_clock(vector_clock)),
    CONSTRAINT chk_handovers_hlc CHECK (hlc_physical >= 0 AND hlc_logical >= 0),
    CONSTRAINT fk_handovers_from_shift FOREIGN KEY (from_shift_id)
        REFERENCES shifts (id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT fk_handovers_to_shift FOREIGN KEY (to_shift_id)
        REFERENCES shifts (id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT fk_handovers_initiated_by FOREIGN KEY (initiated_by)
        REFERENCES users (id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT fk_handovers_accepted_by FOREIGN KEY (accepted_by)
        REFERENCES users (id) ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE INDEX idx_handovers_from_shift ON handovers (from_shift_id);
CREATE INDEX idx_handovers_to_shift ON handovers (to_shift_id);
CREATE INDEX idx_handovers_completed ON handovers (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX idx_handovers_vector_clock ON handovers USING gin (vector_clock jsonb_path_ops);
CREATE TRIGGER trg_handovers_clock BEFORE UPDATE ON handovers
    FOR EACH ROW EXECUTE FUNCTION guard_clock_update();

-- updated_at on the reference tables.
CREATE TRIGGER trg_departments_updated_at BEFORE UPDATE ON departments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_shifts_updated_at BEFORE UPDATE ON shifts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The patient task summary: open and finished work per active patient, no PHI columns.
CREATE VIEW patient_task_summary
WITH (security_barrier = true, security_invoker = true) AS
SELECT p.id AS patient_id,
       p.mrn,
       p.emr_system,
       count(t.id) AS total_tasks,
       count(t.id) FILTER (WHERE t.status IN ('PENDING', 'IN_PROGRESS', 'BLOCKED')) AS open_tasks,
       count(t.id) FILTER (WHERE t.status = 'COMPLETED') AS completed_tasks,
       count(t.id) FILTER (WHERE t.priority = 'CRITICAL'
                           AND t.status IN ('PENDING', 'IN_PROGRESS', 'BLOCKED'))
           AS open_critical_tasks,
       min(t.due_date) FILTER (WHERE t.status IN ('PENDING', 'IN_PROGRESS', 'BLOCKED'))
           AS next_due_date,
       max(t.updated_at) AS last_task_update
FROM patients p
LEFT JOIN tasks t ON t.patient_id = p.id
WHERE p.deleted_at IS NULL AND p.is_active
GROUP BY p.id, p.mrn, p.emr_system;
