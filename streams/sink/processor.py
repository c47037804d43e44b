"""The batch processor: decode once, apply with retries, split refused batches, dead-letter.

Every failure is decided by ``streams.failures.classify``:

* transient infrastructure is retried with backoff for as long as it lasts (consumption
  waits, nothing is dead-lettered);
* a record error makes the batch split until each record that fails on its own is found
  (identity probes first, then parts: in chunks sized by the recent refusal rate, then
  halves, all savepoints of one transaction; k bad records among n cost O(k log n)
  attempts); those are dead-lettered, every other record applied;
* a process error is raised: the worker stops rather than dead-letter good records.

A batch in which every record is refused at the apply stage, after a run of such records,
does not reach the DLQ: the poison-rate breaker (``streams.sink.breaker``) pauses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_delay,
    stop_never,
    wait_exponential_jitter,
)

from streams.contracts.codec import AvroCodec
from streams.contracts.models import AnyEvent
from streams.failures import Scope, classify, describe
from streams.kafka.errors import ProduceRefusedError
from streams.kafka.producer import EventProducer
from streams.metrics import (
    BATCH_SECONDS,
    BATCH_SIZE,
    DB_TRANSACTION_SECONDS,
    EVENTS,
    ISOLATION_TRANSACTIONS,
)
from streams.phi import PhiSealer
from streams.sink import _sql
from streams.sink.apply import (
    BatchOutcome,
    apply_events,
    collect_identities,
    decode_records,
    write_identities,
)
from streams.sink.breaker import PoisonBreaker
from streams.sink.dead_letter import MAX_REASON_CHARS, dead_letter
from streams.sink.records import ConsumedRecord, Poison

__all__ = ["BatchProcessor"]

logger = logging.getLogger(__name__)

Decoded = Sequence[tuple[ConsumedRecord, AnyEvent]]
Conn = psycopg.Connection[tuple[Any, ...]]


def _without(decoded: Decoded, poison: Sequence[Poison]) -> Decoded:
    refused = {id(p.record) for p in poison}
    return [pair for pair in decoded if id(pair[0]) not in refused]


def _transient(exc: BaseException) -> bool:
    return classify(exc) is Scope.TRANSIENT


class BatchProcessor:
    """Turns a batch of consumed records into committed transactions plus dead letters.

    Without a *producer* (a replay), poison is returned and logged but not dead-lettered
    again. *breaker* (default: off) pauses a topic whose every record is refused.
    Transient failures are retried for as long as they last, or, with *give_up_after*
    (commands run by a person), for that many seconds, after which the last one is raised.
    """

    def __init__(self, pool: ConnectionPool, producer: EventProducer | None, codec: AvroCodec,
                 *, max_backoff: float = 30.0, phi: PhiSealer | None = None,
                 breaker: PoisonBreaker | None = None, plaintext_phi: bool = False,
                 give_up_after: float | None = None) -> None:
        self._pool = pool
        self._codec = codec
        self._phi = phi
        self._plaintext_phi = plaintext_phi
        self._producer = producer
        self._breaker = breaker or PoisonBreaker(0)
        #: Moving average of the share of decoded records refused at the apply stage.
        self._refusal_rate = 0.0
        self._retrying = Retrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential_jitter(multiplier=0.1, jitter=0.1, max=max_backoff),
            before_sleep=before_sleep_log(logger, logging.WARNING),
            stop=stop_never if give_up_after is None else stop_after_delay(give_up_after),
            reraise=True,
        )

    def _apply(self, decoded: Decoded) -> BatchOutcome:
        timer = DB_TRANSACTION_SECONDS.labels(decoded[0][0].topic)
        for attempt in self._retrying:
            with attempt, self._pool.connection() as conn, timer.time():
                return apply_events(conn, decoded, plaintext_phi=self._plaintext_phi)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _isolate(self, decoded: Decoded) -> BatchOutcome:
        """Apply *decoded*; on a record error, split it until the refused records are alone.

        The split runs in one transaction: each part is a savepoint, so a part that fails
        costs its statements and a rollback to the savepoint, not a transaction and a
        commit of its own; the parts that went through commit together at the end.
        """
        # With refusals expected in this batch (the recent rate times its size), the whole
        # batch would only be refused once more: go straight to the split.
        if self._refusal_rate * len(decoded) < 1 or len(decoded) == 1:
            try:
                return self._apply(decoded)
            except Exception as exc:
                if classify(exc) is not Scope.RECORD:
                    raise
                if len(decoded) == 1:
                    return self._refused(decoded[0][0], exc)
                logger.warning("batch of %d refused (%s); splitting it to find the records "
                               "refused on their own", len(decoded), describe(exc),
                               extra={"event": "batch.isolating"})
        timer = DB_TRANSACTION_SECONDS.labels(decoded[0][0].topic)
        for attempt in self._retrying:
            with attempt, self._pool.connection() as conn, timer.time(), conn.transaction():
                return self._split_apply(conn, decoded)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    @staticmethod
    def _refused(record: ConsumedRecord, exc: BaseException) -> BatchOutcome:
        return BatchOutcome(poison=[Poison(record, describe(exc), type(exc).__name__,
                                           "apply")])

    def _split_apply(self, conn: Conn, decoded: Decoded) -> BatchOutcome:
        # Most refusals are an identity snapshot the database refuses (a trigger, a unique
        # or foreign key): find the identity rows refused (one statement per probe), try
        # the records that named them alone, probe the identity step of what is left (it
        # goes through unless a refusal hides elsewhere), then apply the rest in one part.
        # Every probe is rolled back; only a record refused on its own is poison.
        outcome = BatchOutcome(poison=self._probe_rows(conn, decoded))
        rest = _without(decoded, outcome.poison)
        if rest:
            outcome.poison.extend(self._probe_identities(conn, rest, top=True))
            rest = _without(rest, outcome.poison)
        if rest:
            outcome.add(self._attempt(conn, rest, chunked=True))
        return outcome

    def _probe_rows(self, conn: Conn, decoded: Decoded) -> list[Poison]:
        """The records refused alone among those whose snapshots named an identity row
        the database refuses (``IdentityBatch.refused_rows``). Whatever a record makes
        this step raise as its own error finds nothing here: the probes that follow
        find it."""
        count = ISOLATION_TRANSACTIONS.labels(decoded[0][0].topic).inc
        count()
        try:
            with conn.transaction(force_rollback=True):
                _, identities = collect_identities(decoded)
                suspects = identities.refused_rows(
                    conn, lambda exc: classify(exc) is Scope.RECORD, count)
        except Exception as exc:
            if classify(exc) is not Scope.RECORD:
                raise
            return []
        found: list[Poison] = []
        for pair in decoded:
            if pair[1].event_id in suspects:
                found.extend(self._probe_identities(conn, [pair], top=False))
        return found

    def _attempt(self, conn: Conn, part: Decoded, *, chunked: bool = False) -> BatchOutcome:
        """Apply *part* as a savepoint; when refused, split it (*chunked*: by the refusal
        rate, else in halves) and attempt each piece, down to the records refused alone."""
        try:
            return apply_events(conn, part, plaintext_phi=self._plaintext_phi)
        except Exception as exc:
            if classify(exc) is not Scope.RECORD:
                raise
            if len(part) == 1:
                return self._refused(part[0][0], exc)
        pieces = self._split(part, top=chunked)
        ISOLATION_TRANSACTIONS.labels(part[0][0].topic).inc(len(pieces))
        outcome = BatchOutcome()
        for piece in pieces:
            outcome.add(self._attempt(conn, piece))
        return outcome

    def _probe_identities(self, conn: Conn, decoded: Decoded, *, top: bool) -> list[Poison]:
        """The records whose identity snapshots the database refuses on their own."""
        ISOLATION_TRANSACTIONS.labels(decoded[0][0].topic).inc()
        try:
            with conn.transaction(force_rollback=True):
                write_identities(conn, decoded)
            return []
        except Exception as exc:
            if classify(exc) is not Scope.RECORD:
                raise
            if len(decoded) == 1:
                return self._refused(decoded[0][0], exc).poison
        found: list[Poison] = []
        for part in self._split(decoded, top=top):
            found.extend(self._probe_identities(conn, part, top=False))
        return found

    def _split(self, decoded: Decoded, *, top: bool) -> list[Decoded]:
        """Halves; at the top, chunks of about one refused record each when the recent
        refusal rate says so (1% refused: chunks of 100), so a steady trickle of refused
        records costs a few chunks and short splits instead of a split of the whole."""
        size = len(decoded) // 2
        if top and self._refusal_rate > 0:
            size = max(2, min(size, round(1 / self._refusal_rate)))
        size = max(1, size)
        return [decoded[i:i + size] for i in range(0, len(decoded), size)]

    def _record(self, poison: Sequence[Poison]) -> None:
        """One row per poison position in ``dead_letters`` (a repeat changes nothing)."""
        for attempt in self._retrying:
            with attempt, self._pool.connection() as conn, conn.transaction():
                conn.execute(_sql.DEAD_LETTERS, (
                    [p.record.topic for p in poison], [p.record.partition for p in poison],
                    [p.record.offset for p in poison],
                    [p.reason[:MAX_REASON_CHARS] for p in poison],
                    [p.error_class for p in poison], [p.stage for p in poison]))

    def _send(self, producer: EventProducer, poison: Sequence[Poison]) -> None:
        """Write the dead letters; a broker away is waited out. A letter the broker refuses
        for its size is sent alone, then bare (its own headers only: the source position
        says where the record is)."""
        for attempt in self._retrying:
            with attempt:
                try:
                    dead_letter(producer, poison)
                except ProduceRefusedError:
                    for item in poison:
                        try:
                            dead_letter(producer, [item])
                        except ProduceRefusedError:
                            dead_letter(producer, [item], max_bytes=0)

    def process(self, records: Sequence[ConsumedRecord]) -> BatchOutcome:
        """Apply *records*; return once each is committed, a duplicate, or dead-lettered."""
        if not records:
            return BatchOutcome()
        topic = records[0].topic
        started = time.perf_counter()
        undecodable = BatchOutcome()
        decoded = decode_records(self._codec, records, undecodable, phi=self._phi)
        while True:
            applied = self._isolate(decoded) if decoded else BatchOutcome()
            through = applied.total - len(applied.poison)
            if not self._breaker.trips(topic, refused=len(applied.poison), through=through):
                break
            self._breaker.pause()
        if decoded:
            share = len(applied.poison) / len(decoded)
            self._refusal_rate = 0.8 * self._refusal_rate + 0.2 * share
        outcome = undecodable
        outcome.add(applied)
        if outcome.poison:
            self._record(outcome.poison)
            if self._producer is not None:
                self._send(self._producer, outcome.poison)
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
