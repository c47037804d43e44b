"""The batch processor: apply with retries on transient database errors, then dead-letter."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg
from psycopg_pool import ConnectionPool
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from streams.kafka.producer import EventProducer
from streams.sink.apply import BatchOutcome, apply_batch
from streams.sink.dead_letter import dead_letter
from streams.sink.records import ConsumedRecord

__all__ = ["BatchProcessor"]

logger = logging.getLogger(__name__)


class BatchProcessor:
    """Turns a batch of consumed records into one committed transaction plus dead letters.

    A database outage (connection lost, serialization failure, deadlock, disk full: every
    ``psycopg.OperationalError``) is retried with exponential backoff for as long as it
    lasts: consumption pauses, nothing is dropped or dead-lettered. Any other error is
    raised: the worker crashes rather than skip records.
    """

    def __init__(self, pool: ConnectionPool, producer: EventProducer, *,
                 max_backoff: float = 30.0) -> None:
        self._pool = pool
        self._producer = producer
        self._retrying = Retrying(
            retry=retry_if_exception_type(psycopg.OperationalError),
            wait=wait_exponential_jitter(initial=0.1, max=max_backoff),
            before_sleep=before_sleep_log(logger, logging.WARNING),
            reraise=True,
        )

    def process(self, records: Sequence[ConsumedRecord]) -> BatchOutcome:
        """Apply *records*; return once they are committed or dead-lettered."""
        for attempt in self._retrying:
            with attempt, self._pool.connection() as conn:
                outcome = apply_batch(conn, records)
        dead_letter(self._producer, outcome.poison)
        for item in outcome.poison:
            logger.warning("dead-lettered %s[%d]@%d: %s", item.record.topic,
                           item.record.partition, item.record.offset, item.reason,
                           extra={"event": "record.dead_lettered"})
        return outcome
