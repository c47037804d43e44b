"""``emr-streams audit``: check the audit trail's hash chains; print their heads."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from streams.audit import read_heads, verify_chains
from streams.cli._common import command_group, emit_json, fail, load_settings, reports_errors_as

app = command_group(help="Tamper evidence of audit_logs (hash chains, see docs/schema.md).",
                  no_args_is_help=True)

ChainOption = typer.Option(None, "--chain", help="Only this chain (e.g. emr.tasks.v1:0, "
                                                 "local); default all.")
JsonOption = typer.Option(False, "--json", help="Print JSON.")


def _anchors(path: Path) -> dict[str, tuple[int, bytes]]:
    """The heads recorded in *path* (``audit heads --json``) as chain -> (seq, hash)."""
    try:
        heads = json.loads(path.read_text())
        return {str(h["chain_key"]): (int(h["last_seq"]), bytes.fromhex(h["last_hash"]))
                for h in heads}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise fail(f"{path}: not the output of `emr-streams audit heads --json`: {exc}",
                   code=2) from None


@app.command()
@reports_errors_as(2)
def verify(
    chain: str | None = ChainOption,
    since: datetime | None = typer.Option(
        None, formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"], metavar="TIME",
        help="Check each chain from its first row created at or after this time (ISO 8601 "
             "with zone; a bare date is UTC midnight), trusting that row's prev_hash. Use it "
             "once retention has dropped the oldest rows."),
    anchor: Path | None = typer.Option(
        None, "--anchor", exists=True, dir_okay=False,
        help="A file written earlier by `emr-streams audit heads --json`: each chain's row at "
             "the recorded last_seq must still have the recorded hash."),
    as_json: bool = JsonOption,
) -> None:
    """Recompute every audit row's hash and walk each chain in order.

    Reports rows whose content changed, rows deleted (gaps, broken links, a head further
    on than the last row) and rows added behind the trigger's back. Exit code 0 when every
    chain is intact, 1 when tampering is found, 2 when the check could not run.
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    report = verify_chains(load_settings().database_url, chain=chain, since=since,
                           anchors=_anchors(anchor) if anchor is not None else None)
    if as_json:
        emit_json({"intact": report.intact, "rows": report.rows_checked,
                   "chains": report.rows, "counts": report.counts(),
                   "findings": [dataclasses.asdict(f) for f in report.findings]})
    else:
        for finding in report.findings:
            typer.echo(str(finding))
        where = f"{report.rows_checked} rows in {len(report.rows)} chain(s)"
        if report.intact:
            typer.echo(f"audit trail intact: {where}")
        else:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts().items()))
            typer.echo(f"audit trail TAMPERED: {len(report.findings)} finding(s) "
                       f"({counts}) in {where}")
    if not report.intact:
        raise typer.Exit(1)


@app.command()
@reports_errors_as(2)
def heads(chain: str | None = ChainOption, as_json: bool = JsonOption) -> None:
    """Print each chain's last sequence number and hash, to record outside the database.

    A copy kept elsewhere (a log, a ticket, a signed file) lets a later check notice even
    a chain rewritten consistently from its start.
    """
    found = read_heads(load_settings().database_url, chain=chain)
    if as_json:
        emit_json([{"chain_key": h.chain_key, "last_seq": h.last_seq,
                    "last_hash": h.last_hash.hex(), "updated_at": h.updated_at.isoformat()}
                   for h in found])
        return
    if not found:
        typer.echo("no audit chain yet")
    for h in found:
        typer.echo(f"{h.chain_key}\t{h.last_seq}\t{h.last_hash.hex()}\t"
                   f"{h.updated_at.isoformat()}")
