"""The ``emr-streams`` entry point: assembles the command modules and reports errors.

Exit codes of every command: 0 done; 1 an error (settings, an unreachable or refusing
service, a failed check); 2 bad usage (unknown command or option, a bad value); 130
interrupted (Ctrl-C). A few commands document one more (``stack status`` 3). An error is
one line on stderr, ``emr-streams: error: ...``; ``-v`` adds the traceback.
"""

from __future__ import annotations

import sys

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
from streams.cli._common import command_group, set_verbose, verbose

PROG = "emr-streams"

app = command_group(
    name=PROG,
    help="Event-driven Kafka stream processor for hospital task management. Settings come "
         "from EMR_STREAMS_* environment variables, KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL "
         "(see README). Exit codes: 0 done, 1 error, 2 bad usage, 130 interrupted.",
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


def _error(message: str, code: int) -> int:
    typer.echo(f"{PROG}: error: {' '.join(message.split())}", err=True)
    return code


def run_cli(args: list[str] | None = None) -> int:
    """Run the command line; return its exit code. Every failure is one line on stderr.

    typer's own usage errors (unknown command or option, a value out of range) are caught
    here instead of being drawn as a box: ``standalone_mode=False`` hands them to us.
    """
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name=PROG, standalone_mode=False)
    except typer.TyperException as exc:
        code = getattr(exc, "exit_code", 1)
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, exit 2
            typer.echo(exc.format_message(), err=True)
            return code
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None and code == 2 else ""
        return _error(exc.format_message() + hint, code)
    except typer.Abort:
        return _error("aborted", 130)
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if verbose():
            raise
        return _error(f"unexpected {type(exc).__name__}: {exc} (run with -v for the "
                      "traceback)", 1)
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_cli())


if __name__ == "__main__":
    main()
