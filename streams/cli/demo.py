"""``emr-streams demo``: the whole pipeline, live — adapter → Kafka → processor → PostgreSQL."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams.adapters.synthetic import SyntheticTaskSource, run_adapter
from streams.cli._common import fail, load_settings, reports_errors
from streams.config import Settings
from streams.db.migrate import MigrationRunner
from streams.kafka.admin import cluster_ready, ensure_topics
from streams.kafka.errors import KafkaAdminError
from streams.kafka.offsets import group_lag
from streams.sdk.publisher import EventPublisher
from streams.topology import project_topics


def _counts(url: str) -> tuple[int, int, int]:
    """Events applied (the ledger), dead letters, task rows."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM processed_events), "
                           "(SELECT count(*) FROM dead_letters), "
                           "(SELECT count(*) FROM tasks)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _lag(settings: Settings) -> int | None:
    try:
        return sum(p.lag for p in group_lag(settings.librdkafka(), settings.kafka.group_id,
                                            settings.kafka.tasks_topic, timeout=5))
    except KafkaAdminError:
        return None


def _table(produced: int, applied: int, dead: int, tasks: int, lag: int | None,
           elapsed: float) -> Table:
    table = Table(title=f"emr-streams demo — {elapsed:5.1f}s")
    for column in ("produced", "applied", "dead-lettered", "task rows (total)",
                   "consumer lag"):
        table.add_column(column, justify="right")
    table.add_row(str(produced), str(applied), str(dead), str(tasks),
                  "?" if lag is None else str(lag))
    return table


@reports_errors
def demo(
    rate: float = typer.Option(200.0, min=0.1, help="Events per second from the adapter."),
    duration: float = typer.Option(20.0, min=0, help="Seconds to produce (0: until Ctrl-C)."),
    drain_timeout: float = typer.Option(60.0, min=1, help="Seconds to wait for lag 0."),
) -> None:
    """Migrate, create topics, start the processor, stream synthetic events, show counts live.

    Needs the local stack (make demo starts it and sets EMR_STREAMS_PROFILE=local), or
    KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL. Logs go to <state folder>/logs.
    """
    settings = load_settings()
    _ = settings.database_url, settings.bootstrap_servers  # name a missing one first
    console = Console()
    log_dir = settings.state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # Client chatter (e.g. a coordinator still loading) goes to a file, not over the table.
    logging.basicConfig(filename=log_dir / "demo.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not cluster_ready(settings.bootstrap_servers, timeout=10,
                         client_config=settings.librdkafka()):
        raise fail(f"no Kafka broker answers at {settings.bootstrap_servers}; "
                   "start the stack with `deploy/local/stack up`")
    MigrationRunner(settings.database_url, folder=settings.postgres.migrations_dir).up()
    ensure_topics(settings.bootstrap_servers, project_topics(settings),
                  client_config=settings.librdkafka())
    log_path = log_dir / "processor.log"
    with open(log_path, "ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "run"],
                                  stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    baseline, dead_baseline, _ = _counts(settings.database_url)
    producer = EventPublisher(settings, node="demo-adapter", source_system="GENERIC_FHIR")
    stop = threading.Event()
    adapter = threading.Thread(target=run_adapter, daemon=True, kwargs={
        "publisher": producer, "source": SyntheticTaskSource(concurrent_rate=0.01),
        "rate": rate, "duration": duration or None, "should_stop": stop.is_set})
    started = time.monotonic()
    adapter.start()
    try:
        with Live(console=console, refresh_per_second=4) as live:
            drain_deadline: float | None = None
            while True:
                applied, dead, tasks = _counts(settings.database_url)
                lag = _lag(settings)
                live.update(_table(producer.delivered, applied - baseline, dead - dead_baseline,
                                   tasks, lag, time.monotonic() - started))
                if worker.poll() is not None:
                    raise fail(f"the processor exited with code {worker.returncode}; "
                               f"see {log_path}")
                if not adapter.is_alive():
                    drain_deadline = drain_deadline or time.monotonic() + drain_timeout
                    if lag == 0 or time.monotonic() > drain_deadline:
                        break
                time.sleep(0.5)
    except KeyboardInterrupt:
        stop.set()
        adapter.join()
    finally:
        stop.set()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
    applied, dead, tasks = _counts(settings.database_url)
    if not console.is_terminal:
        console.line()  # without a terminal, Live leaves its last frame without a newline
    # soft_wrap: long lines are not broken at the console's width, so the psql command
    # can be copied and pasted whole.
    console.print(f"produced {producer.delivered} events; {applied - baseline} applied; "
                  f"{dead - dead_baseline} dead-lettered; {tasks} task rows in all; "
                  f"processor log: {Path(log_path)}", soft_wrap=True)
    console.print(f"count them yourself: psql '{settings.database_url}' "
                  "-c 'SELECT status, count(*) FROM tasks GROUP BY status'", soft_wrap=True,
                  markup=False, highlight=False)
