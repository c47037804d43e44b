"""``emr-streams migrate``: apply, revert and list the SQL migrations."""

from __future__ import annotations

import typer

from streams.cli._common import command_group, emit_json, load_settings, reports_errors
from streams.config import Settings
from streams.db.migrate import Migration, MigrationRunner

app = command_group(help="Database migrations (migrations/*.sql) on DATABASE_URL (the local "
                        "stack's database in the local profile).")

JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")


def _runner(settings: Settings) -> MigrationRunner:
    return MigrationRunner(settings.database_url, folder=settings.postgres.migrations_dir)


def _report(verb: str, done: list[Migration], as_json: bool) -> None:
    if as_json:
        emit_json({verb: [m.version for m in done]})
        return
    for m in done:
        typer.echo(f"{verb:<8} {m.version:04d}_{m.name}")
    if not done:
        typer.echo(f"nothing {verb}")


@app.command()
@reports_errors
def up(to: int | None = typer.Option(None, "--to", help="Stop after this version."),
       as_json: bool = JsonOption) -> None:
    """Apply pending migrations, each in its own transaction."""
    _report("applied", _runner(load_settings()).up(to=to), as_json)


@app.command()
@reports_errors
def down(to: int = typer.Option(..., "--to", help="Revert every version above this one "
                                                 "(0 reverts all)."),
         as_json: bool = JsonOption) -> None:
    """Revert applied migrations newest first."""
    _report("reverted", _runner(load_settings()).down(to=to), as_json)


@app.command()
@reports_errors
def status(as_json: bool = JsonOption) -> None:
    """List applied and pending migrations; refuse edited applied files."""
    applied, pending = _runner(load_settings()).status()
    if as_json:
        emit_json({"applied": [a.version for a in applied],
                   "pending": [m.version for m in pending]})
        return
    for a in applied:
        typer.echo(f"applied  {a.version:04d}_{a.name}  {a.applied_at:%Y-%m-%d %H:%M:%S%z}")
    for m in pending:
        typer.echo(f"pending  {m.version:04d}_{m.name}")
