"""``emr-streams adapter``: upstream adapters that produce domain events."""

from __future__ import annotations

import typer

from streams.adapters.synthetic import SyntheticTaskSource, run_adapter
from streams.cli._common import command_group, emit_json, load_settings, reports_errors
from streams.sdk.publisher import EventPublisher

app = command_group(help="Upstream EMR adapters.", no_args_is_help=True)


@app.command()
@reports_errors
def synthetic(
    rate: float = typer.Option(200.0, min=0.1, help="Events per second."),
    count: int | None = typer.Option(None, min=0, help="Stop after this many events."),
    duration: float | None = typer.Option(None, min=0, help="Stop after this many seconds."),
    seed: int | None = typer.Option(None, help="Seed for a reproducible stream."),
    concurrent_rate: float = typer.Option(0.0, min=0, max=1,
                                          help="Share of edits made concurrently offline."),
    node: str = typer.Option("synthetic-adapter", help="This adapter's node id (clocks)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Publish synthetic task events (Avro) to EMR_STREAMS_KAFKA_TASKS_TOPIC (Ctrl-C stops)."""
    settings = load_settings()
    publisher = EventPublisher(settings, node=node, source_system="GENERIC_FHIR")
    source = SyntheticTaskSource(seed=seed, concurrent_rate=concurrent_rate, node=node)
    try:
        sent = run_adapter(publisher, source, rate=rate, limit=count, duration=duration)
    except KeyboardInterrupt:
        publisher.flush()
        sent = publisher.delivered
    if as_json:
        emit_json({"produced": sent, "topic": settings.kafka.tasks_topic})
    else:
        typer.echo(f"produced {sent} events to {settings.kafka.tasks_topic}")
