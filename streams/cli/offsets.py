"""``emr-streams offsets``: the processor group's committed offsets and lag; reset them."""

from __future__ import annotations

from datetime import datetime

import typer

from streams.cli._common import (
    command_group,
    emit_json,
    fail,
    load_settings,
    reports_errors,
    topic_option,
)
from streams.ops.offsets import plan_reset, reset_offsets, show_offsets

app = command_group(help="Committed offsets of EMR_STREAMS_KAFKA_GROUP_ID.", no_args_is_help=True)


@app.command("show")
@reports_errors
def show(topic: list[str] | None = typer.Option(None, "--topic", callback=topic_option,
                                                help="A topic (repeatable; default: the "
                                                     "inputs)."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Committed offset, end offset and lag per partition."""
    lags = show_offsets(load_settings(kafka=True), topic or None)
    if as_json:
        emit_json([{"topic": p.topic, "partition": p.partition, "committed": p.committed,
                    "end": p.end, "lag": p.lag} for p in lags])
        return
    for p in lags:
        committed = "-" if p.committed is None else str(p.committed)
        typer.echo(f"{p.topic}[{p.partition}]  committed={committed}  end={p.end}  "
                   f"lag={p.lag}")


@app.command()
@reports_errors
def reset(
    topic: str = typer.Option(..., "--topic", callback=topic_option,
                              help="The topic whose offsets to reset."),
    to: str = typer.Option(..., "--to", help="earliest, latest, timestamp or offset."),
    value: str | None = typer.Option(None, "--value", help="An offset, or an ISO 8601 time "
                                                           "with zone, for --to "
                                                           "offset|timestamp."),
    force: bool = typer.Option(False, "--force", help="Even while the group has members."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the new offsets only."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Move the group's committed offsets of one topic.

    Refused while the group has active members unless --force (stop the processors first).
    """
    if to not in {"earliest", "latest", "timestamp", "offset"}:
        raise fail(f"--to must be earliest, latest, timestamp or offset, not {to!r}", code=2)
    number: int | None = None
    if to == "offset":
        if value is None or not value.isdigit():
            raise fail("--to offset needs --value N (a non-negative integer)", code=2)
        number = int(value)
    elif to == "timestamp":
        try:
            moment = datetime.fromisoformat(value or "")
        except ValueError:
            raise fail("--to timestamp needs --value 2026-11-27T00:00:00+00:00", code=2) \
                from None
        if moment.tzinfo is None:
            raise fail("the timestamp needs a time zone", code=2)
        number = int(moment.timestamp() * 1000)
    settings = load_settings(kafka=True)
    targets = plan_reset(settings, topic, to, value=number)  # type: ignore[arg-type]
    if not dry_run:
        reset_offsets(settings, topic, targets, force=force)
    if as_json:
        emit_json({"topic": topic, "offsets": targets, "applied": not dry_run})
        return
    for p, offset in sorted(targets.items()):
        typer.echo(f"{topic}[{p}] -> {offset}{' (dry run)' if dry_run else ''}")
