"""``emr-streams maintenance``: audit partitions, retention and aggregate refresh, now."""

from __future__ import annotations

import dataclasses

import psycopg
import typer

from streams.cli._common import command_group, emit_json, load_settings, reports_errors
from streams.db.errors import MigrationError
from streams.db.maintenance import run_maintenance
from streams.db.migrate import connect

app = command_group(help="Audit time-series upkeep (the processor also runs it every hour).",
                  no_args_is_help=True)


@app.command("run")
@reports_errors
def run_now(
    months_ahead: int = typer.Option(12, min=1, max=120,
                                     help="Months of audit partitions to keep ready."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Create audit partitions ahead, drop those past 7-year retention, refresh aggregates."""
    with connect(load_settings().database_url) as conn:
        try:
            report = run_maintenance(conn, months_ahead=months_ahead)
        except psycopg.errors.UndefinedFunction as exc:
            raise MigrationError("the database is not migrated; run `emr-streams migrate up`"
                                 ) from exc
    if as_json:
        emit_json(dataclasses.asdict(report))
        return
    typer.echo(f"backend: {report.backend}")
    typer.echo(f"partitions created: {', '.join(report.partitions_created) or 'none'}")
    typer.echo(f"partitions dropped: {', '.join(report.partitions_dropped) or 'none'}")
    typer.echo(f"aggregates: {report.aggregates}")
    if report.backend == "timescaledb":
        typer.echo(f"chunks guarded: {report.chunks_guarded}")
