"""``emr-streams status``: throughput, lag, dead letters, recent errors and the database."""

from __future__ import annotations

import dataclasses

import typer
from rich.console import Console
from rich.table import Table

from streams.cli._common import emit_json, load_settings, reports_errors
from streams.ops.status import collect_status


def _known(value: int | None) -> str:
    return "unknown" if value is None else str(value)


@reports_errors
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Throughput, lag, dead letters, recent errors and the database, on one screen.

    Database reachability, events applied in the last 1 and 5 minutes, records
    dead-lettered (database), the state outbox backlog and the states set aside, the audit
    partitions ready ahead (native partitioning), and per
    input topic the group's lag, dead-letter count and the latest
    dead-letter reasons. Exit code 1 when the database or Kafka is unreachable (each is
    given EMR_STREAMS_COMMAND_TIMEOUT, at most 5 s).
    """
    report = collect_status(load_settings())
    if as_json:
        emit_json(dataclasses.asdict(report))
    else:
        console = Console()
        if report.database_ok:
            console.print("database: reachable")
            console.print(f"applied: {report.applied_last_minute} in the last minute, "
                          f"{report.applied_last_5_minutes} in 5 minutes, "
                          f"{report.events_total} in all; dead-lettered: "
                          f"{report.dead_lettered}; state outbox backlog: "
                          f"{report.outbox_pending}, set aside (too large to publish): "
                          f"{report.outbox_set_aside}")
        else:
            console.print(f"database: UNREACHABLE: {report.database_error}")
            console.print("applied, dead-lettered, outbox: unknown (the database is "
                          "unreachable)")
        if report.kafka_error is None:
            console.print("kafka: reachable")
        else:
            console.print(f"kafka: UNREACHABLE: {report.kafka_error}")
        if report.audit_partitions_ahead is not None:
            console.print(f"audit partitions: {report.audit_partitions_ahead} month(s) ahead"
                          " of the current one (maintenance keeps 12)")
        table = Table("topic", "lag", "dead letters", "recent errors")
        for t in report.topics:
            table.add_row(t.topic, _known(t.lag), _known(t.dead_letters),
                          "\n".join(t.recent_errors) or "-")
        console.print(table)
    if not report.database_ok or report.kafka_error is not None:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
