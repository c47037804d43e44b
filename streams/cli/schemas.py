"""``emr-streams schemas``: the event contracts: check compatibility, record releases."""

from __future__ import annotations

from pathlib import Path

import typer

from streams.cli._common import command_group, emit_json, fail, reports_errors
from streams.contracts.catalogue import SchemaCatalogue
from streams.contracts.release import check_catalogue, record_releases

app = command_group(help="Avro schemas in schemas/<name>/vN.avsc (the contract with adapters "
                       "and consumers).", no_args_is_help=True)

FolderOption = typer.Option(None, "--schemas-dir", envvar="EMR_STREAMS_KAFKA_SCHEMAS_DIR",
                            help="Schemas folder (default: schemas/ of the source tree).")


@app.command()
@reports_errors
def check(folder: Path | None = FolderOption,
          as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")
          ) -> None:
    """Fail if a released schema changed or a version breaks compatibility.

    Exit 1 if a released version was edited or removed, or if any version breaks backward
    or forward compatibility with an earlier one (Avro's resolution rules).
    """
    report = check_catalogue(SchemaCatalogue(folder))
    if as_json:
        emit_json({"ok": report.ok, "edited": report.edited, "missing": report.missing,
                   "incompatible": report.incompatible, "unreleased": report.unreleased})
    else:
        for line in report.edited + report.missing + report.incompatible:
            typer.echo(line, err=True)
        for line in report.unreleased:
            typer.echo(f"not released yet: {line}")
    if not report.ok:
        problems = len(report.edited) + len(report.missing) + len(report.incompatible)
        raise fail(f"{problems} schema problem(s)")
    if not as_json:
        typer.echo("schemas ok")


@app.command()
@reports_errors
def release(folder: Path | None = FolderOption) -> None:
    """Record every unreleased version in schemas/released.json (run check first)."""
    catalogue = SchemaCatalogue(folder)
    report = check_catalogue(catalogue)
    if not report.ok:
        raise fail("schemas check fails: fix it before releasing")
    for line in record_releases(catalogue) or ["nothing to release"]:
        typer.echo(f"released {line}" if line != "nothing to release" else line)
