"""Prometheus metrics of the processor (one registry: the client's default)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "AUDIT_PARTITIONS_AHEAD", "BATCH_SECONDS", "BATCH_SIZE", "BREAKER_OPEN", "CONSUMER_LAG",
    "DB_TRANSACTION_SECONDS",
    "EVENTS", "ISOLATION_TRANSACTIONS", "OUTBOX_PENDING",
    "OUTBOX_SET_ASIDE", "STATE_PUBLISHED",
]

#: Records by topic and outcome: consumed, applied, duplicate, stale, concurrent,
#: dead_lettered. consumed = the sum of the others.
EVENTS = Counter("emr_streams_events_total", "Records consumed and what became of them.",
                 ["topic", "outcome"])
BATCH_SIZE = Histogram("emr_streams_batch_size", "Records per batch.", ["topic"],
                       buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000))
BATCH_SECONDS = Histogram("emr_streams_batch_seconds",
                          "Time to apply a batch, retries and dead letters included.",
                          ["topic"])
DB_TRANSACTION_SECONDS = Histogram("emr_streams_db_transaction_seconds",
                                   "Time of one apply transaction.", ["topic"])
CONSUMER_LAG = Gauge("emr_streams_consumer_lag", "Records not yet committed by the group.",
                     ["topic", "partition"])
OUTBOX_PENDING = Gauge("emr_streams_outbox_pending",
                       "Merged states committed but not yet on their state topic.")
OUTBOX_SET_ASIDE = Gauge("emr_streams_outbox_set_aside",
                         "Merged states set aside: too large to publish (state_outbox).")
STATE_PUBLISHED = Counter("emr_streams_state_published_total",
                          "Merged states published to the state topics.", ["aggregate"])
AUDIT_PARTITIONS_AHEAD = Gauge(
    "emr_streams_audit_partitions_ahead_months",
    "Months of native audit partitions beyond the current one (-1: not even this month's; "
    "NaN: not checked yet, or TimescaleDB, whose chunks come with the rows).")
AUDIT_PARTITIONS_AHEAD.set(float("nan"))  # unknown until checked: no alert compares true
BREAKER_OPEN = Gauge("emr_streams_poison_breaker_open",
                     "1 while consumption of a topic is paused by the poison-rate breaker.",
                     ["topic"])
ISOLATION_TRANSACTIONS = Counter("emr_streams_isolation_transactions_total",
                                 "Parts (savepoints) applied while splitting refused batches.",
                                 ["topic"])
