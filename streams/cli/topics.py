"""``emr-streams topics``: create the project's topics idempotently."""

from __future__ import annotations

import typer

from streams.cli._common import command_group, emit_json, load_settings, reports_errors
from streams.kafka.admin import describe_topics, ensure_topics
from streams.topology import project_topics

app = command_group(help="Kafka topics the project uses (inputs, dead letters, state).",
                  no_args_is_help=True)


@app.command()
@reports_errors
def create(as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")
           ) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    settings = load_settings(kafka=True)
    specs = project_topics(settings)
    created = ensure_topics(settings.bootstrap_servers, specs,
                            client_config=settings.librdkafka())
    if as_json:
        emit_json({"created": created, "topics": [s.name for s in specs]})
        return
    for spec in specs:
        state = "created" if spec.name in created else "exists "
        typer.echo(f"{state}  {spec.name}  partitions={spec.partitions}")


@app.command()
@reports_errors
def describe(as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")
             ) -> None:
    """Each topic the project uses, as it is on the cluster.

    Exists?, partitions, replication, cleanup and retention, beside what `topics create`
    would make. Exit code 1 if one is missing.
    """
    settings = load_settings(kafka=True)
    specs = {s.name: s for s in project_topics(settings)}
    states = describe_topics(settings.bootstrap_servers, specs,
                             client_config=settings.librdkafka())
    if as_json:
        emit_json([{"topic": st.name, "exists": st.partitions is not None,
                    "partitions": st.partitions,
                    "expected_partitions": specs[st.name].partitions,
                    "replication_factor": st.replication_factor, "config": dict(st.config)}
                   for st in states])
    else:
        for st in states:
            if st.partitions is None:
                typer.echo(f"MISSING  {st.name}")
                continue
            config = " ".join(f"{k}={v}" for k, v in sorted(st.config.items()))
            typer.echo(f"ok       {st.name}  partitions={st.partitions}  "
                       f"replication={st.replication_factor}  {config}")
    if any(st.partitions is None for st in states):
        raise typer.Exit(1)
