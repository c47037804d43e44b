-- Redrives of dead letters: one row per dead-letter record sent back to its source topic,
-- so the same dead letter is not redriven twice by accident, and operators have a trail.
CREATE TABLE dlq_redrives (
    dlq_topic     text        NOT NULL,
    dlq_partition integer     NOT NULL,
    dlq_offset    bigint      NOT NULL,
    target_topic  text        NOT NULL,
    reason        text        NOT NULL,
    redriven_by   text        NOT NULL,
    redriven_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
