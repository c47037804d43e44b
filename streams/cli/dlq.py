"""``emr-streams dlq``: browse dead letters and redrive them once their cause is fixed."""

from __future__ import annotations

import typer

from streams.cli._common import (
    command_group,
    emit_json,
    fail,
    load_settings,
    reports_errors,
    topic_option,
)
from streams.cli._progress import progress_bar
from streams.config import KafkaSettings
from streams.kafka.schema_registry import codec_for
from streams.ops.dlq import DeadLetter, read_dead_letters, redrive, redrive_target
from streams.timefmt import utc_iso_ms
from streams.topology import dead_letter_topic

app = command_group(help="Dead-letter topics (<input topic>.dlq): list, show, redrive.",
                  no_args_is_help=True)

TopicOption = typer.Option(KafkaSettings.model_fields["tasks_topic"].default, "--topic",
                           envvar="EMR_STREAMS_DLQ_TOPIC",
                           callback=topic_option,
                           help="The input topic whose dead letters to read.")
JsonOption = typer.Option(False, "--json", help="Print JSON.")


def _select(letters: list[DeadLetter], *, from_offset: int | None, to_offset: int | None,
            reason: str | None, event_type: str | None) -> list[DeadLetter]:
    return [d for d in letters
            if (from_offset is None or d.offset >= from_offset)
            and (to_offset is None or d.offset < to_offset)
            and (reason is None or reason.lower() in d.meta.reason.lower())
            and (event_type is None or d.event_type == event_type)]


@app.command("list")
@reports_errors
def list_(
    topic: str = TopicOption,
    limit: int = typer.Option(50, min=0, help="Show the latest N of those selected "
                                              "(0: all)."),
    from_offset: int | None = typer.Option(None, min=0, help="First dead-letter offset."),
    to_offset: int | None = typer.Option(None, min=0, help="Stop before this offset."),
    reason: str | None = typer.Option(None, help="Only reasons containing this text."),
    event_type: str | None = typer.Option(None, help="Only this event type, e.g. "
                                                     "TASK_CREATED."),
    as_json: bool = JsonOption,
) -> None:
    """Dead letters, oldest first: offset, time (UTC), source position, event type, reason.

    The latest --limit of those the filters select; a last line on stderr says how many
    were left out.
    """
    settings = load_settings(kafka=True, postgres=True)
    dlq = dead_letter_topic(topic)
    letters = _select(read_dead_letters(settings, dlq, codec_for(settings)),
                      from_offset=from_offset, to_offset=to_offset, reason=reason,
                      event_type=event_type)
    shown = letters[-limit:] if limit else letters
    if as_json:
        emit_json([d.summary() for d in shown])
    elif not letters:
        filtered = any(v is not None for v in (from_offset, to_offset, reason, event_type))
        typer.echo(f"no dead letters in {dlq}" + (" match" if filtered else ""))
    else:
        rows = [(str(d.offset), _time(d), ":".join(map(str, d.source)),
                 (d.event_type or "(undecodable)") + (" [redriven]" if d.redriven else ""),
                 f"{d.meta.error_class} at {d.meta.stage}: {d.meta.reason}") for d in shown]
        header = ("OFFSET", "DEAD-LETTERED (UTC)", "SOURCE", "EVENT TYPE", "REASON")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                       + "  " + row[4])
    if len(shown) < len(letters) and not as_json:
        typer.echo(f"showing the latest {len(shown)} of {len(letters)} dead letters in {dlq}; "
                   "--limit 0 shows all, --from-offset/--reason/--event-type select",
                   err=True)


def _time(letter: DeadLetter) -> str:
    return utc_iso_ms(letter.meta.dead_lettered_at_ms) or "-"


@app.command()
@reports_errors
def show(offset: int = typer.Argument(..., min=0, help="Offset in the dead-letter topic."),
         partition: int = typer.Option(0, min=0, help="Dead-letter topic partition."),
         topic: str = TopicOption, as_json: bool = JsonOption) -> None:
    """One dead letter in full: reason, provenance, headers (the value is never printed)."""
    settings = load_settings(kafka=True, postgres=True)
    found = [d for d in read_dead_letters(settings, dead_letter_topic(topic),
                                          codec_for(settings), from_offset=offset,
                                          to_offset=offset + 1) if d.partition == partition]
    if not found:
        raise fail(f"no dead letter at {dead_letter_topic(topic)}:{partition}:{offset}")
    letter = found[0]
    details = letter.summary() | {
        "key": letter.record.key.decode(errors="replace") if letter.record.key else None,
        "value_bytes": len(letter.record.value or b""),
        "headers": [k for k, _ in letter.record.headers]}
    if as_json:
        emit_json(details)
        return
    for key, value in details.items():
        if key != "dead_lettered_at_ms":  # people read dead_lettered_at (UTC)
            typer.echo(f"{key:>20}: {value}")


@app.command("redrive")
@reports_errors
def redrive_(
    topic: str = TopicOption,
    from_offset: int | None = typer.Option(None, min=0, help="First dead-letter offset."),
    to_offset: int | None = typer.Option(None, min=0, help="Stop before this offset."),
    reason: str | None = typer.Option(None, help="Only reasons containing this text."),
    event_type: str | None = typer.Option(None, help="Only this event type, e.g. "
                                                     "TASK_CREATED."),
    force: bool = typer.Option(False, "--force", help="Redrive ones already redriven too."),
    operator: str | None = typer.Option(
        None, "--operator", help="A note of who asked for it (at most 200 characters), "
                                 "recorded beside the database role, which is recorded "
                                 "anyway."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be redriven."),
    as_json: bool = JsonOption,
) -> None:
    """Send selected dead letters back to their source topic.

    Original key, value and headers are kept; each redrive adds a row to dlq_redrives
    (append-only: who is the database role, when is the server's clock), so it is not
    repeated by accident and a forced one leaves the earlier record in place.
    """
    if operator is not None and not 0 < len(operator) <= 200:
        raise fail("--operator: a note of 1 to 200 characters", code=2)
    if from_offset is None and to_offset is None and reason is None and event_type is None:
        raise fail("choose what to redrive: --from-offset/--to-offset, --reason or "
                   "--event-type", code=2)
    settings = load_settings(kafka=True, postgres=True)
    letters = _select(read_dead_letters(settings, dead_letter_topic(topic),
                                        codec_for(settings)),
                      from_offset=from_offset, to_offset=to_offset, reason=reason,
                      event_type=event_type)
    if dry_run:
        plan = [(d, redrive_target(settings, d)) for d in letters if force or not d.redriven]
        if as_json:
            emit_json({"dry_run": True, "would_redrive": [
                d.summary() | {"target": target} for d, target in plan if target],
                "would_skip": [d.position for d, target in plan if not target]})
        else:
            typer.echo(f"dry run: nothing is sent ({len(plan)} selected)")
            for d, target in plan:
                typer.echo(f"would redrive {d.position} -> {target}"
                           f"{' (again)' if d.redriven else ''}" if target else
                           f"would skip {d.position}: no input topic of this project to "
                           "send it to, or no value")
        return
    with progress_bar(quiet=as_json) as bar:
        task = bar.add_task("redrive", total=len(letters))
        done, skipped = redrive(settings, letters, force=force, operator=operator,
                                on_progress=lambda n: bar.advance(task, n))
    if as_json:
        emit_json({"redriven": done, "skipped": skipped})
    else:
        typer.echo(f"redriven {done}; skipped {skipped} (already redriven, no value, or no "
                   "input topic of this project to send it to)")
