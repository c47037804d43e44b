"""``emr-streams replay``: a topic's records, again, into the database or another topic."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Literal

import psycopg
import typer
from confluent_kafka import KafkaException

from streams.cli._common import (
    describe_error,
    emit_json,
    fail,
    load_settings,
    reports_errors,
    topic_option,
    verbose,
)
from streams.cli._progress import progress_bar
from streams.errors import StreamsError
from streams.kafka.reader import RangeReader
from streams.ops.replay import ReplayPlan, plan_replay, run_replay


def _ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise fail("timestamps need a time zone, e.g. 2026-11-27T00:00:00+00:00", code=2)
    return int(value.timestamp() * 1000)


@reports_errors
def replay(
    topic: str | None = typer.Option(None, callback=topic_option,
                                     help="Topic to replay (not with --resume).",
                                     envvar="EMR_STREAMS_REPLAY_TOPIC"),
    into: str = typer.Option("database", help="database (the processor's apply path) or "
                                              "topic (copy to --target-topic).",
                             envvar="EMR_STREAMS_REPLAY_INTO"),
    target_topic: str | None = typer.Option(None, callback=topic_option,
                                            help="Destination with --into topic.",
                                            envvar="EMR_STREAMS_REPLAY_TARGET_TOPIC"),
    partition: list[int] | None = typer.Option(None, "--partition",
                                               help="A partition (repeatable; default all)."),
    from_offset: int | None = typer.Option(None, min=0, help="Start at this offset."),
    from_timestamp: datetime | None = typer.Option(
        None, formats=["%Y-%m-%dT%H:%M:%S%z"], metavar="TIME",
        help="Start at the first record at or after this time (ISO 8601 with zone)."),
    to_offset: int | None = typer.Option(None, min=0, help="Stop before this offset."),
    to_timestamp: datetime | None = typer.Option(
        None, formats=["%Y-%m-%dT%H:%M:%S%z"], metavar="TIME",
        help="Stop before the first record at or after this time."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count and show a sample; write "
                                                          "nothing."),
    rate: float | None = typer.Option(None, min=1, help="At most this many records/s.",
                                      envvar="EMR_STREAMS_REPLAY_RATE"),
    batch_size: int = typer.Option(1000, min=1, max=100_000, help="Records per batch.",
                                   envvar="EMR_STREAMS_REPLAY_BATCH_SIZE"),
    checkpoint: Path | None = typer.Option(
        None, help="Checkpoint file (default: replay-<topic>.json in "
                   "$XDG_STATE_HOME/emr-streams, or in the stack folder in the local "
                   "profile); an interrupted replay resumes from it with --resume.",
        envvar="EMR_STREAMS_REPLAY_CHECKPOINT"),
    resume: Path | None = typer.Option(None, help="Resume the replay saved in this "
                                                  "checkpoint."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Replay a topic into the database or into another topic.

    One topic (all or chosen partitions) from an offset, a time or the beginning, up to an
    offset, a time or the current end: into the database through the processor's apply
    path (idempotent, audited) or into another topic (keys, headers and timestamps kept).
    Ctrl-C saves a checkpoint; --resume continues from it.
    """
    settings = load_settings(kafka=True)
    if into not in {"database", "topic"}:
        raise fail(f"--into must be database or topic, not {into!r}", code=2)
    if resume is not None:
        plan = ReplayPlan.load(resume)
        checkpoint = resume
    else:
        if topic is None:
            raise fail("--topic is required (or --resume FILE)", code=2)
        if from_offset is not None and from_timestamp is not None:
            raise fail("give --from-offset or --from-timestamp, not both", code=2)
        if to_offset is not None and to_timestamp is not None:
            raise fail("give --to-offset or --to-timestamp, not both", code=2)
        mode: Literal["database", "topic"] = "database" if into == "database" else "topic"
        with RangeReader(settings.librdkafka(), topic) as reader:
            plan = plan_replay(reader, into=mode, target_topic=target_topic,
                               partitions=partition or None, from_offset=from_offset,
                               from_timestamp_ms=_ms(from_timestamp), to_offset=to_offset,
                               to_timestamp_ms=_ms(to_timestamp))
        if checkpoint is None and not dry_run:
            checkpoint = settings.state_dir / f"replay-{topic}.json"
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
        if checkpoint is not None and not dry_run:
            plan.save(checkpoint)
    if not as_json:
        if dry_run:
            typer.echo(f"dry run: reading {plan.total - plan.done} records of {plan.topic} "
                       "to count them and show a sample; nothing is written", err=True)
        else:
            typer.echo(f"replaying {plan.total - plan.done} records of {plan.topic} into "
                       f"{plan.target_topic or 'the database'}", err=True)
    with progress_bar(quiet=as_json) as bar:
        task = bar.add_task("dry run" if dry_run else "replay", total=plan.total,
                            completed=plan.done)
        try:
            result = run_replay(settings, plan, checkpoint=checkpoint, dry_run=dry_run,
                                rate=rate, batch_size=batch_size,
                                on_progress=lambda n: bar.advance(task, n))
        except KeyboardInterrupt:
            bar.stop()
            typer.echo(f"interrupted after {plan.done} of {plan.total} records; resume with: "
                       f"emr-streams replay --resume {checkpoint}", err=True)
            raise typer.Exit(130) from None
        except (StreamsError, psycopg.Error, KafkaException) as exc:
            if verbose():
                raise
            bar.stop()
            resume_hint = (f"; after {plan.done} of {plan.total} records: resume with "
                           f"emr-streams replay --resume {checkpoint}"
                           if checkpoint is not None and plan.done else "")
            raise fail(describe_error(exc) + resume_hint) from None
    if checkpoint is not None and not dry_run:
        checkpoint.unlink(missing_ok=True)
    payload = dataclasses.asdict(result) | {"topic": plan.topic, "into": plan.into,
                                            "total": plan.total, "dry_run": dry_run}
    if as_json:
        emit_json(payload)
        return
    typer.echo(f"read {result.read} records of {plan.topic}")
    if dry_run:
        for item in result.sample:
            typer.echo(f"  sample: {item}")
    elif plan.into == "database":
        typer.echo(f"applied {result.applied}, stale {result.stale}, merged "
                   f"{result.concurrent}, already applied {result.duplicates}, "
                   f"undecodable or refused {result.poison}")
    else:
        typer.echo(f"copied {result.produced} records to {plan.target_topic}")


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
