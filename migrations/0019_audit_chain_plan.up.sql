-- The audit hash chain's running-row lookup keeps its index plan whatever the statistics.
--
-- audit_chain_link (and audit_chain_flush) read the transaction's last running row of a
-- chain: WHERE xact = me AND chain_key = key ORDER BY seq DESC LIMIT 1, one backward step
-- on audit_chain_running's primary key. The flush deletes every running row at commit, so
-- an ANALYZE (autovacuum's, or an operator's) can find the table empty: reltuples = 0.
-- The planner then takes a bitmap scan and a sort for the cached plan, which reads and
-- sorts all of the transaction's running rows of the chain for every audit row: quadratic
-- in the rows per transaction. Measured on replays of 100,000 events into fresh databases
-- (batches of 5,000): in one round of three the lookup cost 181-199 us per event instead
-- of 3, and PostgreSQL's whole work per event went from about 104 us to 257-313 us.
-- With sorting off inside the two functions, the backward index scan is the only plan
-- that gives the order without a sort, so it is chosen on any statistics.
ALTER FUNCTION audit_chain_link() SET enable_sort = off;
ALTER FUNCTION audit_chain_flush() SET enable_sort = off;
