"""``emr-streams adapter``: upstream adapters that produce domain events."""

from __future__ import annotations

import typer

from streams.adapters.synthetic import SyntheticTaskSource, run_adapter
from streams.cli._common import emit_json, load_settings, reports_errors
from streams.kafka.producer import EventProducer

app = typer.Typer(help="Upstream EMR adapters.", no_args_is_help=True)


@app.command()
@reports_errors
def synthetic(
    rate: float = typer.Option(200.0, min=0.1, help="Events per second."),
    count: int | None = typer.Option(None, min=0, help="Stop after this many events."),
    duration: float | None = typer.Option(None, min=0, help="Stop after this many seconds."),
    seed: int | None = typer.Option(None, help="Seed for a reproducible stream."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Produce synthetic task events to EMR_STREAMS_KAFKA_TASKS_TOPIC (Ctrl-C stops)."""
    settings = load_settings()
    producer = EventProducer(settings.librdkafka())
    try:
        sent = run_adapter(producer, settings.kafka.tasks_topic, SyntheticTaskSource(seed=seed),
                           rate=rate, limit=count, duration=duration)
    except KeyboardInterrupt:
        producer.flush()
        sent = producer.delivered
    if as_json:
        emit_json({"produced": sent, "topic": settings.kafka.tasks_topic})
    else:
        typer.echo(f"produced {sent} events to {settings.kafka.tasks_topic}")
