-- Transactional outbox: the merged state of each aggregate a batch changed, written in the
-- batch's transaction, published by the relay to the compacted state topic of its
-- aggregate (key = aggregate id) and deleted once the broker has it. A change is
-- published if and only if its transaction committed.
CREATE TABLE state_outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    aggregate_type text        NOT NULL CHECK (aggregate_type IN ('task', 'handover',
                                                                  'emr_verification')),
    aggregate_id   uuid        NOT NULL,
    state          jsonb       NOT NULL CHECK (jsonb_typeof(state) = 'object'),
    created_at     timestamptz NOT NULL DEFAULT now()
);
