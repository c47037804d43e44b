"""The state relay: committed merged states, from the outbox to the compacted state topics."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from streams.kafka.errors import ProduceRefusedError
from streams.kafka.producer import EventProducer
from streams.metrics import OUTBOX_PENDING, OUTBOX_SET_ASIDE, STATE_PUBLISHED
from streams.sink.stored import encode_state, oversized_state

__all__ = ["relay_once"]

logger = logging.getLogger(__name__)

_LOCK_KEY = int.from_bytes(hashlib.sha256(b"emr-streams outbox relay").digest()[:8], "big",
                           signed=True)

Conn = psycopg.Connection[tuple[Any, ...]]


def _set_aside(conn: Conn, row_id: int, reason: str) -> None:
    conn.execute("UPDATE state_outbox SET set_aside_at = emr_now(), set_aside_reason = %s "
                 "WHERE id = %s", (reason[:500], row_id))
    logger.error("state outbox row %d set aside: %s", row_id, reason,
                 extra={"event": "outbox.set_aside"})


def _publish(producer: EventProducer, topic: str, aggregate_id: object, payload: bytes) -> None:
    producer.produce(topic, key=str(aggregate_id).encode(), value=payload,
                     headers=[("content-type", b"application/json")])


def _count_pending(conn: Conn) -> None:
    try:
        row = conn.execute("SELECT count(*) FILTER (WHERE set_aside_at IS NULL), "
                           "count(*) FILTER (WHERE set_aside_at IS NOT NULL) "
                           "FROM state_outbox").fetchone()
    except psycopg.Error:
        return  # the relay's own error says what is wrong
    OUTBOX_PENDING.set(int(row[0]) if row else 0)
    OUTBOX_SET_ASIDE.set(int(row[1]) if row else 0)


def relay_once(conn: Conn, producer: EventProducer, topic_for: Callable[[str], str], *,
               limit: int = 1000) -> int:
    """Publish up to *limit* outbox rows, oldest first; delete them once delivered.

    One relay works at a time (an advisory lock; other instances return 0). Rows leave the
    outbox only after the broker acknowledged them, in the same transaction that read them,
    so a crash publishes a state again rather than losing it; the state topics are
    compacted and keyed by aggregate id, so a repeat is harmless. A state the broker or
    the client refuses for what it is (too large) is set aside — kept in the outbox with
    its reason, counted by ``emr_streams_outbox_set_aside`` — and never holds up the
    others. Returns rows published (or set aside).
    """
    try:
        with conn.transaction():
            locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                  (_LOCK_KEY,)).fetchone()
            if not locked or not locked[0]:
                return 0
            rows = conn.execute("SELECT id, aggregate_type, aggregate_id, state "
                                "FROM state_outbox WHERE set_aside_at IS NULL "
                                "ORDER BY id LIMIT %s", (limit,)).fetchall()
            sent: list[Any] = []
            for row_id, aggregate_type, aggregate_id, state in rows:
                payload = encode_state(state)
                reason = oversized_state(payload)
                if reason is not None:
                    _set_aside(conn, row_id, reason)
                    continue
                _publish(producer, topic_for(str(aggregate_type)), aggregate_id, payload)
                sent.append((row_id, aggregate_type, aggregate_id, payload))
            if sent:
                try:
                    producer.flush()
                except ProduceRefusedError:
                    sent = _one_by_one(conn, producer, topic_for, sent)
                conn.execute("DELETE FROM state_outbox WHERE id = ANY(%s)",
                             ([r[0] for r in sent],))
                for _, aggregate_type, _, _ in sent:
                    STATE_PUBLISHED.labels(str(aggregate_type)).inc()
    finally:
        _count_pending(conn)
    return len(rows)


def _one_by_one(conn: Conn, producer: EventProducer, topic_for: Callable[[str], str],
                rows: list[Any]) -> list[Any]:
    """After a refused flush: publish each row alone; set aside the ones refused alone."""
    sent = []
    for row in rows:
        row_id, aggregate_type, aggregate_id, payload = row
        try:
            _publish(producer, topic_for(str(aggregate_type)), aggregate_id, payload)
            producer.flush()
        except ProduceRefusedError as exc:
            _set_aside(conn, row_id, f"refused by Kafka: {exc}")
            continue
        sent.append(row)
    return sent
