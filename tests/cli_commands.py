"""The commands of the ``emr-streams`` CLI, read from the CLI itself (for tests that must
cover every command)."""

from __future__ import annotations

import typer

from streams.cli.main import app

__all__ = ["command_paths"]


def command_paths() -> list[str]:
    """Every leaf command by its path, e.g. ``"dlq list"`` or ``"status"``."""
    return _leaves(typer.main.get_command(app), "")


def _leaves(group: object, path: str) -> list[str]:
    found = []
    for name, command in getattr(group, "commands", {}).items():
        full = f"{path} {name}".strip()
        found += _leaves(command, full) if hasattr(command, "commands") else [full]
    return found
