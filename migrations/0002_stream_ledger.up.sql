-- What the stream processor needs to be idempotent and to record conflicts.

-- One row per event ever seen, applied or recorded as a no-op: the idempotence key.
-- Written in the same transaction as the change the event caused.
CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text        NOT NULL,
    aggregate_id uuid,
    topic        text        NOT NULL,
    "partition"  integer     NOT NULL CHECK ("partition" >= 0),
    "offset"     bigint      NOT NULL CHECK ("offset" >= 0),
    outcome      text        NOT NULL DEFAULT 'applied'
                 CHECK (outcome IN ('applied', 'stale', 'merged')),
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_processed_events_position ON processed_events (topic, "partition", "offset");
CREATE INDEX idx_processed_events_aggregate ON processed_events (aggregate_id);

-- Concurrent edits (neither vector clock dominates the other), both sides kept for
-- clinical review, with the deterministic resolution the processor applied.
CREATE TABLE conflicts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    aggregate_type  text        NOT NULL CHECK (aggregate_type IN ('task', 'handover',
                                                                   'emr_verification')),
    aggregate_id    uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    local_clock     jsonb       NOT NULL,
    remote_clock    jsonb       NOT NULL,
    local_state     jsonb       NOT NULL,
    remote_state    jsonb       NOT NULL,
    resolved_state  jsonb       NOT NULL,
    resolution_rule text        NOT NULL,
    detected_at     timestamptz NOT NULL DEFAULT now(),
    reviewed_at     timestamptz,
    reviewed_by     uuid,
    CONSTRAINT uq_conflicts_event UNIQUE (event_id),
    CONSTRAINT chk_conflicts_review CHECK ((reviewed_at IS NULL) = (reviewed_by IS NULL))
);
CREATE INDEX idx_conflicts_aggregate ON conflicts (aggregate_type, aggregate_id);
CREATE INDEX idx_conflicts_unreviewed ON conflicts (detected_at) WHERE reviewed_at IS NULL;
