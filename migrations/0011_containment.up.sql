-- Containment (docs/failures.md): every bound holds on what is stored, and every dead
-- letter is recorded once in the database whatever its topic holds after a crash.

-- Dead letters: one row per poison position, written before the processor moves past it
-- (its offset is committed only after this row and the dead-letter record exist). A crash
-- can repeat a record on the dead-letter topic; it cannot repeat this row.
CREATE TABLE dead_letters (
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    reason           text        NOT NULL CHECK (length(reason) <= 2000),
    error_class      text        NOT NULL,
    stage            text        NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT emr_now(),
    PRIMARY KEY (source_topic, source_partition, source_offset)
);
CREATE INDEX idx_dead_letters_at ON dead_letters (dead_lettered_at);
GRANT SELECT, INSERT ON dead_letters TO emr_processor;

-- A redrive names the source position it sends back, so a dead letter repeated on the
-- topic is redriven once.
ALTER TABLE dlq_redrives ADD COLUMN source_topic text,
                         ADD COLUMN source_partition integer,
                         ADD COLUMN source_offset bigint;
CREATE INDEX idx_dlq_redrives_source
    ON dlq_redrives (source_topic, source_partition, source_offset);

-- States too large to publish are set aside (kept, counted, never blocking the others).
ALTER TABLE state_outbox ADD COLUMN set_aside_at timestamptz,
                         ADD COLUMN set_aside_reason text;
CREATE INDEX idx_state_outbox_pending ON state_outbox (id) WHERE set_aside_at IS NULL;
GRANT UPDATE (set_aside_at, set_aside_reason) ON state_outbox TO emr_processor;

-- Stored vector clocks are bounded (1,024 entries, streams.contracts.clocks): a merge that
-- would exceed the bound keeps the entries with the greatest (counter, node id), a rule
-- that gives the same clock whatever order the events came in. The guard now accepts a
-- node leaving the clock only in that case: the clock is full and every entry kept ranks
-- above every entry dropped. No kept counter may decrease, as before.
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
    NEW.updated_at := emr_now();
    RETURN NEW;
END;
$$;
