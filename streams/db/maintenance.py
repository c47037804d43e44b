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


@dataclass(frozen=True)
class MaintenanceReport:
    """What one maintenance run did."""

    backend: str
    partitions_created: list[str]
    partitions_dropped: list[str]
    aggregates: str


def _names(conn: psycopg.Connection[tuple[object, ...]], query: bytes,
           params: tuple[object, ...]) -> list[str]:
    return [str(row[0]) for row in conn.execute(query, params).fetchall()]


def run_maintenance(conn: psycopg.Connection[tuple[object, ...]], *,
                    months_ahead: int = 12) -> MaintenanceReport:
    """Create audit partitions *months_ahead*, drop those past 7-year retention, refresh.

    On TimescaleDB the chunks, retention and refresh belong to its policies and only the
    report is produced. Instances of the processor may call this at the same time: an
    advisory lock makes them take turns. Safe to run as often as wanted.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        row = conn.execute("SELECT audit_backend()").fetchone()
        backend = str(row[0]) if row else "unknown"
        created = _names(conn, b"SELECT * FROM audit_logs_ensure_partitions(%s)",
                         (months_ahead,))
        dropped = _names(conn, b"SELECT * FROM audit_logs_drop_expired()", ())
        refreshed = conn.execute("SELECT refresh_audit_aggregates()").fetchone()
    report = MaintenanceReport(backend, created, dropped, str(refreshed[0]) if refreshed else "")
    logger.info("audit maintenance (%s): %d partitions created, %d dropped; %s", backend,
                len(created), len(dropped), report.aggregates,
                extra={"event": "maintenance.done"})
    return report
