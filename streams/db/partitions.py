"""How far ahead the audit trail's native monthly partitions reach.

An audit row whose month has no partition is refused, and with it every event of the batch
(dead-lettered): partitions are created a year ahead by ``emr-streams maintenance run``.
The worker watches the margin (``/readyz``, ``emr_streams_audit_partitions_ahead_months``,
``emr-streams status``) so that a missing maintenance job shows up months before it bites.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

__all__ = ["partition_months_ahead"]

_NAME = re.compile(r"^audit_logs_p(\d{4})(\d{2})$")


def partition_months_ahead(conn: psycopg.Connection[Any]) -> int | None:
    """Months of partitions beyond the current UTC month (0: only this month's; -1: not
    even that), or None when the audit trail is not natively partitioned (TimescaleDB
    creates its chunks as rows arrive)."""
    rows = conn.execute(
        "SELECT c.relname, to_char(emr_now() AT TIME ZONE 'UTC', 'YYYYMM') "
        "FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'public.audit_logs'::regclass").fetchall()
    if not rows:
        is_partitioned = conn.execute(
            "SELECT c.relkind = 'p' FROM pg_catalog.pg_class c "
            "WHERE c.oid = 'public.audit_logs'::regclass").fetchone()
        return -1 if is_partitioned and is_partitioned[0] else None
    now = str(rows[0][1])
    current = int(now[:4]) * 12 + int(now[4:]) - 1
    months = [int(m[1]) * 12 + int(m[2]) - 1 for name, _ in rows
              if (m := _NAME.match(str(name)))]
    if not months:
        return None  # chunks of a hypertable, not monthly partitions
    if current not in months:
        return -1
    ahead = 0
    while current + ahead + 1 in months:
        ahead += 1
    return ahead
