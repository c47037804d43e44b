ALTER TABLE emr_verifications DROP COLUMN IF EXISTS field_clocks;
ALTER TABLE handovers DROP COLUMN IF EXISTS field_clocks;
ALTER TABLE tasks DROP COLUMN IF EXISTS field_clocks;
