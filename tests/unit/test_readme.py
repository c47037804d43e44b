"""The README's Commands table: one table, and every command of the CLI in it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli_commands import command_paths

ROOT = Path(__file__).resolve().parents[2]


def _commands_table() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = lines.index("| command | does |")
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    # Nothing that looks like a row of it may follow the first blank line: a broken
    # table renders the rest without a header.
    rest = lines[start + len(table):]
    assert not any(line.startswith("| `emr-streams") for line in rest), \
        "the Commands table is broken by a blank line"
    return table


def test_every_command_is_in_the_one_commands_table() -> None:
    rows = "\n".join(_commands_table())
    commands = command_paths()
    assert commands
    for command in commands:
        group, _, leaf = command.rpartition(" ")
        if group:
            # "dlq show" may be written "dlq list | show ..." in one row.
            pattern = rf"`emr-streams {re.escape(group)} [^`]*\b{re.escape(leaf)}\b"
        else:
            pattern = rf"`emr-streams {re.escape(leaf)}\b"
        assert re.search(pattern, rows), f"{command} is not in the README's Commands table"
