"""Run the processor: a faust worker with the agents, a pool and a dead-letter producer."""

from __future__ import annotations

import logging

import faust
from psycopg_pool import ConnectionPool

from streams.agents.app import create_app
from streams.agents.maintenance import register_maintenance
from streams.agents.tasks import register_task_agent
from streams.config import Settings
from streams.kafka.producer import EventProducer
from streams.kafka.schema_registry import codec_for
from streams.sink.processor import BatchProcessor

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
    producer = EventProducer(settings.librdkafka())
    app = create_app(settings)
    register_task_agent(app, settings, BatchProcessor(pool, producer, codec_for(settings)))
    register_maintenance(app, pool)
    pool.open(wait=False)
    try:
        worker = faust.Worker(app, loglevel=settings.processor.log_level.upper(),
                              redirect_stdouts=False, quiet=True)
        worker.execute_from_commandline()
    finally:
        pool.close()
        producer.flush()
