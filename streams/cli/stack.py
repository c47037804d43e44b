"""``emr-streams stack``: start, stop and inspect the local Kafka + PostgreSQL stack."""

from __future__ import annotations

import dataclasses

import typer

from streams.cli._common import command_group, emit_json, load_settings, reports_errors
from streams.devstack import LocalStack, StackStatus

app = command_group(help="The local development stack: Kafka (KRaft) and PostgreSQL as local "
                       "processes under EMR_STREAMS_STACK_DIR (default .stack).",
                  no_args_is_help=True)

JsonOption = typer.Option(False, "--json", help="Print the status as JSON.")


def _show(status: StackStatus, as_json: bool) -> None:
    if as_json:
        emit_json(dataclasses.asdict(status) | {"running": status.running})
        return
    kafka = f"running (pid {status.kafka_pid})" if status.kafka_pid else "stopped"
    postgres = f"running (pid {status.postgres_pid})" if status.postgres_pid else "stopped"
    typer.echo(f"kafka {status.kafka_version}  {kafka}  bootstrap={status.kafka_bootstrap}")
    typer.echo(f"postgres       {postgres}  url={status.database_url}")


@app.command()
@reports_errors
def up(as_json: bool = JsonOption) -> None:
    """Start Kafka and PostgreSQL (reuse running ones) and wait until both answer."""
    _show(LocalStack(load_settings().stack).up(), as_json)


@app.command()
@reports_errors
def down(as_json: bool = JsonOption) -> None:
    """Stop Kafka and PostgreSQL; nothing of the stack keeps running."""
    _show(LocalStack(load_settings().stack).down(), as_json)


@app.command()
@reports_errors
def status(as_json: bool = JsonOption) -> None:
    """Show what runs; exit code 3 when a part is stopped."""
    current = LocalStack(load_settings().stack).status()
    _show(current, as_json)
    if not current.running:
        raise typer.Exit(3)
