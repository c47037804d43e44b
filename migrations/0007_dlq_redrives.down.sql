DROP TABLE IF EXISTS dlq_redrives;
