"""``emr-streams phi``: create a keyring and rotate its active key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from streams.cli._common import reports_errors
from streams.phi.keyring import StaticKeyring, new_keyring

app = typer.Typer(help="Keys of the field-level PHI encryption (docs/security.md).",
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
    existing = json.loads(keyring.read_text()) if keyring.exists() else None
    doc = new_keyring(key_id, existing)
    StaticKeyring.from_json(json.dumps(doc))  # the result must load
    temporary = keyring.with_name(keyring.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=2)
    temporary.replace(keyring)
    typer.echo(f"{keyring}: active key {key_id} ({len(doc['keys'])} key(s) in the keyring)")
