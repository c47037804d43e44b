"""``emr-streams phi``: create a keyring and rotate its active key."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import typer

from streams.cli._common import command_group, emit_json, fail, load_settings, reports_errors
from streams.ops.reseal import reseal as reseal_stored
from streams.phi.fields import keyring_from_settings
from streams.phi.keyring import StaticKeyring, new_keyring

app = command_group(help="Keys of the field-level PHI encryption (docs/security.md).",
                  no_args_is_help=True)


@app.command("add-key")
@reports_errors
def add_key(
    keyring: Path = typer.Argument(..., dir_okay=False,
                                   help="Keyring JSON file; created (mode 0600) if missing."),
    key_id: str = typer.Option(..., "--key-id", help="Id of the new key, e.g. 2026-11 "
                                                     "(letters, digits, '_' or '-')."),
) -> None:
    """Add a fresh random AES-256 key to KEYRING and make it the active one.

    New writes are sealed with it; the older keys stay in the file so what they sealed
    still opens. The blind-index key is created once and kept. Restart (or roll) the
    producers and processors to pick it up.
    """
    existing = _read_keyring(keyring) if keyring.exists() else None
    doc = new_keyring(key_id, existing)
    StaticKeyring.from_json(json.dumps(doc))  # the result must load
    _write_private(keyring, json.dumps(doc, indent=2))
    typer.echo(f"{keyring}: active key {key_id} ({len(doc['keys'])} key(s) in the keyring)")


def _read_keyring(path: Path) -> dict[str, Any]:
    """The keyring document at *path*, checked (PhiKeyError in one line, no traceback)."""
    text = StaticKeyring.read_text(path)
    StaticKeyring.from_json(text)  # a keyring this code can load, or a one-line error
    doc: dict[str, Any] = json.loads(text)
    return doc


def _write_private(path: Path, text: str) -> None:
    """Replace *path* atomically with *text*, readable by its owner only.

    The new content goes to a fresh file in the same folder, created with O_CREAT|O_EXCL|
    O_NOFOLLOW at mode 0600 (``tempfile.mkstemp``: no name another user prepared, no
    symlink followed, never world-readable), synced, then renamed over *path*.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@app.command()
@reports_errors
def reseal(dry_run: bool = typer.Option(False, "--dry-run",
                                        help="Count what would be re-sealed; change nothing."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Re-seal stored PHI tokens of the earlier version (ENC1, bound to their field only)
    as ENC2, bound to their row: the task, handover or verification, or the patient.

    Needs the keyring (EMR_STREAMS_PHI_KEYS_FILE or _KEYS) and the schema owner's
    DATABASE_URL; one transaction. A token that does not open is left and counted.
    """
    settings = load_settings()
    keyring = keyring_from_settings(settings)
    if keyring is None:
        raise fail("no keyring: set EMR_STREAMS_PHI_KEYS_FILE or EMR_STREAMS_PHI_KEYS")
    try:
        with psycopg.connect(settings.database_url, connect_timeout=10) as conn:
            report = reseal_stored(conn, keyring, dry_run=dry_run)
    except psycopg.Error as exc:
        raise fail(f"cannot re-seal: {' '.join(str(exc).split())}") from None
    if as_json:
        emit_json({"dry_run": dry_run, **dataclasses.asdict(report)})
        return
    for table, found in report.found.items():
        typer.echo(f"{table}: {found} ENC1 token(s), "
                   f"{'would re-seal' if dry_run else 're-sealed'} "
                   f"{report.resealed[table]}, not opened {report.unopened[table]}")
