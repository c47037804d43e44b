-- Per-field merge state for the replicated aggregates: for each field, the hybrid logical
-- clock [physical_us, logical, node] of the write that set it. The processor merges
-- concurrent offline edits field by field, last writer wins on that clock (see README,
-- "Merge rules"); this column is what makes the merge independent of arrival order.
ALTER TABLE tasks ADD COLUMN field_clocks jsonb NOT NULL DEFAULT '{}'
    CONSTRAINT chk_tasks_field_clocks CHECK (jsonb_typeof(field_clocks) = 'object');
ALTER TABLE handovers ADD COLUMN field_clocks jsonb NOT NULL DEFAULT '{}'
    CONSTRAINT chk_handovers_field_clocks CHECK (jsonb_typeof(field_clocks) = 'object');
ALTER TABLE emr_verifications ADD COLUMN field_clocks jsonb NOT NULL DEFAULT '{}'
    CONSTRAINT chk_emr_verifications_field_clocks CHECK (jsonb_typeof(field_clocks) = 'object');
