"""``emr-streams run``: the stream processor alone (a faust worker)."""

from __future__ import annotations

import logging

import typer

from streams.cli._common import configure_logging, load_settings, reports_errors

logger = logging.getLogger(__name__)


@reports_errors
def run() -> None:
    """Run the stream processor until SIGTERM or Ctrl-C.

    Consumes the three input topics (EMR_STREAMS_KAFKA_TASKS_TOPIC, _HANDOVERS_TOPIC,
    _VERIFICATIONS_TOPIC) as group EMR_STREAMS_KAFKA_GROUP_ID, writes to DATABASE_URL and
    publishes the state topics. It waits out Kafka and PostgreSQL outages. Exit code 0
    after a graceful stop; non-zero after a crash (restart it: nothing is lost, offsets are
    committed only after the database commits).
    """
    from streams.agents import run_worker  # faust is imported only when the worker runs

    settings = load_settings()
    _ = settings.database_url, settings.bootstrap_servers  # a missing one: one line, first
    configure_logging(settings.processor.log_level)
    if settings.clock.offset_us:
        logger.warning("clock shifted by %+d s (EMR_STREAMS_CLOCK_OFFSET_US): testing only",
                       settings.clock.offset_us // 1_000_000, extra={"event": "clock.shifted"})
    run_worker(settings)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
