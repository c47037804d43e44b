"""Run the processor: a faust worker with its agents, pool, producers and health server."""

from __future__ import annotations

import logging

import faust
import psycopg
from psycopg_pool import ConnectionPool

from streams.agents.app import create_app
from streams.agents.background import register_background
from streams.agents.ingest import register_ingest_agent
from streams.agents.maintenance import register_maintenance
from streams.config import Settings
from streams.health import HealthServer, HealthState
from streams.kafka.producer import EventProducer
from streams.kafka.schema_registry import codec_for
from streams.phi import PhiSealer
from streams.runtime import tune_garbage_collector
from streams.sink.breaker import PoisonBreaker
from streams.sink.processor import BatchProcessor
from streams.topology import input_topics

__all__ = ["run_worker"]

logger = logging.getLogger(__name__)


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT (graceful: the batch in flight finishes and is committed).

    Exits through SystemExit: 0 after a graceful stop, non-zero after an agent crash, so a
    supervisor (Kubernetes, systemd) restarts it.
    """
    pool = ConnectionPool(settings.database_url, min_size=settings.postgres.pool_min_size,
                          max_size=settings.postgres.pool_max_size,
                          kwargs={"autocommit": True}, open=False, name="emr-streams")
    dead_letters = EventProducer(settings.librdkafka())
    states = EventProducer(settings.librdkafka())
    health = HealthState()
    breaker = PoisonBreaker(settings.processor.poison_breaker, on_change=health.set_paused)
    processor = BatchProcessor(pool, dead_letters, codec_for(settings),
                               phi=PhiSealer.for_sink(settings), breaker=breaker,
                               plaintext_phi=settings.phi.publish_plaintext)
    app = create_app(settings)
    for topic in input_topics(settings):
        register_ingest_agent(app, settings, topic, processor, on_crash=health.mark_failed)
    if settings.processor.maintenance:
        register_maintenance(app, pool)
    register_background(app, settings, pool, states, health)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator carries no types
    async def started() -> None:
        health.mark_started()

    def database_ok() -> bool:
        try:
            with pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    server = (HealthServer(health, database_ok, port=settings.processor.http_port,
                           host=settings.processor.http_host)
              if settings.processor.http_port else None)
    pool.open(wait=False)
    if server is not None:
        server.start()
    tune_garbage_collector()
    try:
        worker = faust.Worker(app, loglevel=settings.processor.log_level.upper(),
                              redirect_stdouts=False, quiet=True)
        worker.execute_from_commandline()
    finally:
        breaker.stop()
        if server is not None:
            server.stop()
        pool.close()
        dead_letters.flush()
        states.flush()
