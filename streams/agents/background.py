"""Background work of the worker: the state relay, the consumer-lag gauge and the watch
on the audit partitions ahead."""

from __future__ import annotations

import asyncio
import logging
import time

import faust
from psycopg_pool import ConnectionPool

from streams.config import Settings
from streams.db.partitions import partition_months_ahead
from streams.health import HealthState
from streams.kafka.errors import KafkaLayerError
from streams.kafka.offsets import group_lag
from streams.kafka.producer import EventProducer
from streams.metrics import AUDIT_PARTITIONS_AHEAD, CONSUMER_LAG
from streams.sink.outbox import relay_once
from streams.topology import input_topics, state_topic

__all__ = ["register_background"]

logger = logging.getLogger(__name__)

_LAG_INTERVAL_SECONDS = 10.0
#: How often the partitions are checked again while there are too few ahead.
_PARTITIONS_RED_SECONDS = 10.0


def register_background(app: faust.App, settings: Settings, pool: ConnectionPool,
                        producer: EventProducer, health: HealthState) -> None:
    """Relay the outbox every ``outbox_interval`` seconds; refresh the lag gauge every 10 s;
    check the audit partitions ahead every ``partition_check_interval`` seconds (fewer
    than ``min_partitions_ahead`` months: /readyz answers 503, and the check repeats every
    10 s until the margin is back); on TimescaleDB, guard the chunks created since the
    last check instead (``audit_guard_chunks()``).

    Failures are logged and retried on the next tick: states wait in the outbox (nothing
    is lost while Kafka or the database is away).
    """

    def relay() -> None:
        try:
            with pool.connection() as conn:
                while relay_once(conn, producer, lambda a: state_topic(settings, a)) > 0:
                    pass
        except Exception:
            logger.warning("state relay failed; retrying", exc_info=True,
                           extra={"event": "outbox.failed"})

    def lag() -> None:
        for topic in input_topics(settings):
            try:
                for p in group_lag(settings.librdkafka(), settings.kafka.group_id, topic,
                                   timeout=5):
                    CONSUMER_LAG.labels(topic, str(p.partition)).set(p.lag)
            except KafkaLayerError:
                logger.debug("lag of %s unavailable", topic, exc_info=True)

    last_check = [float("-inf")]

    def partitions() -> None:
        # Every interval while the margin is fine; every tick (10 s) while it is short, so
        # that readiness comes back as soon as the maintenance job has run.
        if (health.partitions is None and time.monotonic() - last_check[0]
                < settings.processor.partition_check_interval):
            return
        last_check[0] = time.monotonic()
        try:
            with pool.connection() as conn:
                ahead = partition_months_ahead(conn)
        except Exception:
            logger.warning("audit partition check failed; retrying", exc_info=True,
                           extra={"event": "partitions.check_failed"})
            return
        if ahead is None:  # TimescaleDB: chunks come with the rows
            AUDIT_PARTITIONS_AHEAD.set(float("nan"))
            health.set_partitions(None)
            guard_chunks()
            return
        AUDIT_PARTITIONS_AHEAD.set(ahead)
        wanted = settings.processor.min_partitions_ahead
        if ahead < wanted:
            problem = (f"audit partitions: {max(ahead, -1)} month(s) ahead, {wanted} wanted: "
                       "run `emr-streams maintenance run` as the schema owner")
            logger.error(problem, extra={"event": "partitions.short"})
            health.set_partitions(problem)
        else:
            health.set_partitions(None)

    def guard_chunks() -> None:
        # A chunk created since the last check carries the hypertable's grants and no
        # TRUNCATE guard: give it the audit trail's (migration 0017).
        try:
            with pool.connection() as conn:
                row = conn.execute("SELECT audit_guard_chunks()").fetchone()
        except Exception:
            logger.warning("audit chunk guard failed; retrying", exc_info=True,
                           extra={"event": "chunks.guard_failed"})
            return
        if row and row[0]:
            logger.info("guarded %s new audit chunk(s)", row[0],
                        extra={"event": "chunks.guarded"})

    # faust's task and timer decorators carry no types.
    @app.task  # type: ignore[untyped-decorator]
    async def partitions_on_start() -> None:
        await asyncio.to_thread(partitions)

    @app.timer(interval=min(settings.processor.partition_check_interval,  # type: ignore[untyped-decorator]
                            _PARTITIONS_RED_SECONDS))
    async def audit_partitions() -> None:
        await asyncio.to_thread(partitions)

    @app.timer(interval=settings.processor.outbox_interval)  # type: ignore[untyped-decorator]
    async def outbox_relay() -> None:
        await asyncio.to_thread(relay)

    @app.timer(interval=_LAG_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def consumer_lag() -> None:
        await asyncio.to_thread(lag)
