DROP TABLE IF EXISTS conflicts;
DROP TABLE IF EXISTS processed_events;
