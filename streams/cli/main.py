"""The ``emr-streams`` entry point: assembles the command modules."""

from __future__ import annotations

import typer

from streams.cli import (
    adapter,
    audit,
    demo,
    dlq,
    maintenance,
    migrate,
    offsets,
    phi,
    replay,
    run,
    schemas,
    stack,
    status,
    topics,
)
from streams.cli._common import set_verbose

app = typer.Typer(
    name="emr-streams",
    help="Event-driven Kafka stream processor for hospital task management. Settings come "
         "from EMR_STREAMS_* environment variables, KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL "
         "(see README).",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v",
                                       help="Show tracebacks on errors.")) -> None:
    set_verbose(verbose)


app.add_typer(stack.app, name="stack")
app.add_typer(migrate.app, name="migrate")
app.add_typer(topics.app, name="topics")
app.add_typer(adapter.app, name="adapter")
app.add_typer(maintenance.app, name="maintenance")
app.add_typer(schemas.app, name="schemas")
app.add_typer(dlq.app, name="dlq")
app.add_typer(offsets.app, name="offsets")
app.add_typer(phi.app, name="phi")
app.add_typer(audit.app, name="audit")
replay.register(app)
status.register(app)
run.register(app)
app.command("demo")(demo.demo)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
