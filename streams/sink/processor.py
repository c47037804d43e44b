"""The batch processor: apply with retries on transient database errors, then dead-letter."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import psycopg
from psycopg_pool import ConnectionPool
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from streams.contracts.codec import AvroCodec
from streams.kafka.producer import EventProducer
from streams.metrics import BATCH_SECONDS, BATCH_SIZE, DB_TRANSACTION_SECONDS, EVENTS
from streams.phi import PhiSealer
from streams.sink.apply import BatchOutcome, apply_batch
from streams.sink.dead_letter import dead_letter
from streams.sink.records import ConsumedRecord, Poison

__all__ = ["PERMANENT_ERRORS", "BatchProcessor"]

logger = logging.getLogger(__name__)

#: Errors one record's content causes (a constraint, trigger or type refusing it): retrying
#: cannot help, so that record is dead-lettered and the others are applied.
PERMANENT_ERRORS: tuple[type[psycopg.Error], ...] = (psycopg.IntegrityError,
                                                     psycopg.DataError)


def _reason(exc: psycopg.Error) -> str:
    """The database's primary message and SQLSTATE, never its DETAIL (it can quote values)."""
    primary = exc.diag.message_primary or type(exc).__name__
    constraint = f" [{exc.diag.constraint_name}]" if exc.diag.constraint_name else ""
    return f"{primary}{constraint} (SQLSTATE {exc.sqlstate})"


class BatchProcessor:
    """Turns a batch of consumed records into one committed transaction plus dead letters.

    A database outage (connection lost, serialization failure, deadlock, disk full: every
    ``psycopg.OperationalError``) is retried with exponential backoff for as long as it
    lasts: consumption pauses, nothing is dropped or dead-lettered. When the database
    refuses the batch for its content (``PERMANENT_ERRORS``), the records are applied one
    by one and only those refused on their own are dead-lettered. Any other error is
    raised: the worker crashes rather than skip records. Without a *producer* (a replay),
    poison is returned and logged but not dead-lettered again.
    """

    def __init__(self, pool: ConnectionPool, producer: EventProducer | None, codec: AvroCodec,
                 *, max_backoff: float = 30.0, phi: PhiSealer | None = None) -> None:
        self._pool = pool
        self._codec = codec
        self._phi = phi
        self._producer = producer
        self._retrying = Retrying(
            retry=retry_if_exception_type(psycopg.OperationalError),
            wait=wait_exponential_jitter(multiplier=0.1, jitter=0.1, max=max_backoff),
            before_sleep=before_sleep_log(logger, logging.WARNING),
            reraise=True,
        )

    def _apply(self, records: Sequence[ConsumedRecord]) -> BatchOutcome:
        timer = DB_TRANSACTION_SECONDS.labels(records[0].topic)
        for attempt in self._retrying:
            with attempt, self._pool.connection() as conn, timer.time():
                return apply_batch(conn, records, codec=self._codec, phi=self._phi)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _apply_isolating(self, records: Sequence[ConsumedRecord]) -> BatchOutcome:
        try:
            return self._apply(records)
        except PERMANENT_ERRORS as batch_error:
            logger.warning("batch of %d refused (%s); applying its records one by one",
                           len(records), _reason(batch_error),
                           extra={"event": "batch.isolating"})
        outcome = BatchOutcome()
        for record in records:
            try:
                single = self._apply([record])
            except PERMANENT_ERRORS as exc:
                outcome.poison.append(Poison(record, _reason(exc), type(exc).__name__,
                                             "apply"))
                continue
            outcome.add(single)
        return outcome

    def process(self, records: Sequence[ConsumedRecord]) -> BatchOutcome:
        """Apply *records*; return once each is committed, a duplicate, or dead-lettered."""
        if not records:
            return BatchOutcome()
        topic = records[0].topic
        started = time.perf_counter()
        outcome = self._apply_isolating(records)
        if self._producer is not None:
            dead_letter(self._producer, outcome.poison)
        BATCH_SECONDS.labels(topic).observe(time.perf_counter() - started)
        BATCH_SIZE.labels(topic).observe(len(records))
        for name, value in (("consumed", len(records)), ("applied", outcome.applied),
                            ("duplicate", outcome.duplicates), ("stale", outcome.stale),
                            ("concurrent", outcome.concurrent),
                            ("dead_lettered", len(outcome.poison))):
            EVENTS.labels(topic, name).inc(value)
        for item in outcome.poison:
            logger.warning("poison %s[%d]@%d at %s: %s", item.record.topic,
                           item.record.partition, item.record.offset, item.stage, item.reason,
                           extra={"event": "record.dead_lettered"})
        return outcome
