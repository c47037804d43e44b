"""The state relay: committed merged states, from the outbox to the compacted state topics."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from streams.kafka.producer import EventProducer
from streams.metrics import OUTBOX_PENDING, STATE_PUBLISHED

__all__ = ["relay_once"]

logger = logging.getLogger(__name__)

_LOCK_KEY = int.from_bytes(hashlib.sha256(b"emr-streams outbox relay").digest()[:8], "big",
                           signed=True)


def relay_once(conn: psycopg.Connection[tuple[Any, ...]], producer: EventProducer,
               topic_for: Callable[[str], str], *, limit: int = 1000) -> int:
    """Publish up to *limit* outbox rows, oldest first; delete them once delivered.

    One relay works at a time (an advisory lock; other instances return 0). Rows leave the
    outbox only after the broker acknowledged them, in the same transaction that read them,
    so a crash publishes a state again rather than losing it; the state topics are
    compacted and keyed by aggregate id, so a repeat is harmless. Returns rows published.
    """
    with conn.transaction():
        locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK_KEY,)).fetchone()
        if not locked or not locked[0]:
            return 0
        rows = conn.execute("SELECT id, aggregate_type, aggregate_id, state FROM state_outbox "
                            "ORDER BY id LIMIT %s", (limit,)).fetchall()
        for _, aggregate_type, aggregate_id, state in rows:
            producer.produce(topic_for(str(aggregate_type)), key=str(aggregate_id).encode(),
                             value=json.dumps(state, sort_keys=True).encode(),
                             headers=[("content-type", b"application/json")])
        if rows:
            producer.flush()
            conn.execute("DELETE FROM state_outbox WHERE id = ANY(%s)", ([r[0] for r in rows],))
            for _, aggregate_type, _, _ in rows:
                STATE_PUBLISHED.labels(str(aggregate_type)).inc()
        pending = conn.execute("SELECT count(*) FROM state_outbox").fetchone()
    OUTBOX_PENDING.set(int(pending[0]) if pending else 0)
    return len(rows)
