DROP TABLE IF EXISTS state_outbox;
