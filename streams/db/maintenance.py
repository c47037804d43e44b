"""Upkeep of the audit time series: partitions ahead, retention, aggregate refresh."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import psycopg

__all__ = ["MaintenanceReport", "run_maintenance"]

logger = logging.getLogger(__name__)

_LOCK_KEY = int.from_bytes(hashlib.sha256(b"emr-streams maintenance").digest()[:8], "big",
                           signed=True)


#: The continuous aggregates of migration 0004 (TimescaleDB path).
_CONTINUOUS_AGGREGATES = ("audit_metrics_hourly", "audit_compliance_daily")


@dataclass(frozen=True)
class MaintenanceReport:
    """What one maintenance run did."""

    backend: str
    partitions_created: list[str]
    partitions_dropped: list[str]
    aggregates: str
    #: TimescaleDB: chunks (and compressed chunks) given the audit trail's guards this run.
    chunks_guarded: int = 0


def _names(conn: psycopg.Connection[tuple[object, ...]], query: bytes,
           params: tuple[object, ...]) -> list[str]:
    return [str(row[0]) for row in conn.execute(query, params).fetchall()]


def run_maintenance(conn: psycopg.Connection[tuple[object, ...]], *,
                    months_ahead: int = 12) -> MaintenanceReport:
    """Create audit partitions *months_ahead*, drop those past 7-year retention, refresh,
    and (TimescaleDB) guard the chunks created since the last run (audit_guard_chunks).

    On TimescaleDB the chunks and retention belong to its policies; the continuous
    aggregates are refreshed over their whole range here (only what changed is
    recomputed), so history and backfills count at once instead of at the next policy run.
    Instances of the processor may call this at the same time: an advisory lock makes them
    take turns. Safe to run as often as wanted. *conn* must be in autocommit mode (the
    TimescaleDB refresh is a procedure that commits by itself).
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        row = conn.execute("SELECT audit_backend()").fetchone()
        backend = str(row[0]) if row else "unknown"
        created = _names(conn, b"SELECT * FROM audit_logs_ensure_partitions(%s)",
                         (months_ahead,))
        dropped = _names(conn, b"SELECT * FROM audit_logs_drop_expired()", ())
        refreshed = conn.execute("SELECT refresh_audit_aggregates()").fetchone()
        guarded = conn.execute("SELECT audit_guard_chunks()").fetchone()
    aggregates = str(refreshed[0]) if refreshed else ""
    if backend == "timescaledb":
        for aggregate in _CONTINUOUS_AGGREGATES:
            conn.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (aggregate,))
        aggregates = "timescaledb: refreshed"
    report = MaintenanceReport(backend, created, dropped, aggregates,
                               int(str(guarded[0])) if guarded else 0)
    logger.info("audit maintenance (%s): %d partitions created, %d dropped; %s", backend,
                len(created), len(dropped), report.aggregates,
                extra={"event": "maintenance.done"})
    return report
