-- Walking skeleton: the event ledger and a first tasks table.
-- The seed's full data model (issue #3) replaces the tasks table in later migrations.

-- One row per event ever applied or recorded as a no-op: the idempotence key.
CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text        NOT NULL,
    topic        text        NOT NULL,
    "partition"  integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processed_events_position_idx ON processed_events (topic, "partition", "offset");

CREATE TABLE tasks (
    id               uuid PRIMARY KEY,
    title            text        NOT NULL,
    status           text        NOT NULL,
    priority         text        NOT NULL,
    department_code  text        NOT NULL,
    source_system    text        NOT NULL,
    last_event_id    uuid        NOT NULL,
    last_occurred_at timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
