"""Audit upkeep inside the worker: at start and every hour, never blocking the agents."""

from __future__ import annotations

import asyncio
import logging

import faust
import psycopg
from psycopg_pool import ConnectionPool

from streams.db.maintenance import run_maintenance

__all__ = ["register_maintenance"]

logger = logging.getLogger(__name__)

_INTERVAL_SECONDS = 3600.0


def _run(pool: ConnectionPool) -> None:
    try:
        with pool.connection() as conn:
            run_maintenance(conn)
    except psycopg.Error:
        # Partitions are kept a year ahead: a failed run is retried next hour.
        logger.exception("audit maintenance failed; retrying in %.0fs", _INTERVAL_SECONDS,
                         extra={"event": "maintenance.failed"})


def register_maintenance(app: faust.App, pool: ConnectionPool) -> None:
    """Run audit maintenance when the worker starts and every hour after."""

    # faust's task and timer decorators carry no types.
    @app.task  # type: ignore[untyped-decorator]
    async def maintenance_on_start() -> None:
        await asyncio.to_thread(_run, pool)

    @app.timer(interval=_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def maintenance_hourly() -> None:
        await asyncio.to_thread(_run, pool)
