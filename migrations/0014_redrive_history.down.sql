-- Back to one row per dead letter (the latest redrive of each is kept).
GRANT UPDATE ON dlq_redrives TO emr_processor;
DROP TRIGGER trg_dlq_redrives_no_truncate ON dlq_redrives;
DROP TRIGGER trg_dlq_redrives_append_only ON dlq_redrives;
DROP TRIGGER trg_dlq_redrives_stamp ON dlq_redrives;
DROP FUNCTION dlq_redrives_append_only();
DROP FUNCTION dlq_redrives_stamp();
DELETE FROM dlq_redrives AS r USING dlq_redrives AS newer
WHERE newer.dlq_topic = r.dlq_topic AND newer.dlq_partition = r.dlq_partition
  AND newer.dlq_offset = r.dlq_offset AND newer.id > r.id;
DROP INDEX idx_dlq_redrives_letter;
ALTER TABLE dlq_redrives DROP COLUMN operator_note, DROP COLUMN id;
ALTER TABLE dlq_redrives ADD PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset);
