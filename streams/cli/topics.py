"""``emr-streams topics``: create the project's topics idempotently."""

from __future__ import annotations

import typer

from streams.cli._common import emit_json, load_settings, reports_errors
from streams.kafka.admin import ensure_topics
from streams.topology import project_topics

app = typer.Typer(help="Kafka topics the project uses (inputs and dead letters).",
                  no_args_is_help=True)


@app.command()
@reports_errors
def create(as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")
           ) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    settings = load_settings()
    specs = project_topics(settings)
    created = ensure_topics(settings.bootstrap_servers, specs,
                            client_config=settings.librdkafka())
    if as_json:
        emit_json({"created": created, "topics": [s.name for s in specs]})
        return
    for spec in specs:
        state = "created" if spec.name in created else "exists "
        typer.echo(f"{state}  {spec.name}  partitions={spec.partitions}")
