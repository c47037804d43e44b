"""Every command, as a user gets it wrong: one line on stderr, a documented exit code, and
an end within EMR_STREAMS_COMMAND_TIMEOUT when Kafka or PostgreSQL does not answer.

The tables below must name every command the CLI has (checked against the CLI itself), so
a new command cannot arrive without its bad-usage row. The servers here are closed ports
on loopback: no service is started, and none is needed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.cli_commands import command_paths

pytestmark = pytest.mark.integration

#: Exit codes the README documents for every command.
USAGE, ERROR = 2, 1
#: audit verify's 1 means "tampered": it says it cannot run with 2 (docs/schema.md).
CANNOT_RUN = {"audit": 2}
#: The bound the unreachable cases run with, and the slack a process start may add.
TIMEOUT, SLACK = 2.0, 8.0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_DEAD_KAFKA = f"127.0.0.1:{_closed_port()}"
_DEAD_DATABASE = f"postgresql://postgres:hunter2@127.0.0.1:{_closed_port()}/emr"


def _env(**extra: str) -> dict[str, str]:
    """Production profile, nothing configured, unless *extra* says so."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("EMR_STREAMS_") and k not in {"DATABASE_URL",
                                                              "KAFKA_BOOTSTRAP_SERVERS"}}
    env["EMR_STREAMS_CLOCK_OFFSET_US"] = os.environ.get("EMR_STREAMS_CLOCK_OFFSET_US", "0")
    env["EMR_STREAMS_COMMAND_TIMEOUT"] = str(TIMEOUT)
    env["COLUMNS"] = "80"
    return env | extra


def _cli(args: tuple[str, ...], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str],
                                                              float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", *args],
                            capture_output=True, text=True, timeout=120, env=env)
    return result, time.monotonic() - started


def _one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("emr-streams: error: "), lines[0]
    assert "Traceback" not in result.stderr and "╭" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    return lines[0]


# -- bad usage: exit 2 -----------------------------------------------------------------------

BAD_USAGE: dict[str, list[tuple[str, ...]]] = {
    "": [("nope",), ("--bogus",)],
    "stack up": [("stack", "up", "--bogus")],
    "stack down": [("stack", "down", "extra")],
    "stack status": [("stack", "status", "--json=yes")],
    "migrate up": [("migrate", "up", "--to", "x")],
    "migrate down": [("migrate", "down")],  # --to is required
    "migrate status": [("migrate", "status", "--bogus")],
    "topics create": [("topics", "create", "--bogus")],
    "topics describe": [("topics", "describe", "extra")],
    "maintenance run": [("maintenance", "run", "--months-ahead", "0")],
    "run": [("run", "--bogus")],
    "adapter synthetic": [("adapter", "synthetic", "--rate", "0"),
                          ("adapter", "synthetic", "--concurrent-rate", "2")],
    "schemas check": [("schemas", "check", "--bogus")],
    "schemas release": [("schemas", "release", "--bogus")],
    "demo": [("demo", "--rate", "0"), ("demo", "--drain-timeout", "0")],
    "replay": [("replay", "--from-offset", "-3"), ("replay", "--from-timestamp", "yesterday"),
               ("replay", "--batch-size", "0"), ("replay", "--rate", "0.5"),
               ("replay", "--topic", ""), ("replay", "--topic", "t" * 5000),
               ("replay", "--topic", "t", "--into", "topic", "--target-topic", "a b")],
    "dlq list": [("dlq", "list", "--limit", "-1"), ("dlq", "list", "--topic", "..")],
    "dlq show": [("dlq", "show", "x"), ("dlq", "show")],
    "dlq redrive": [("dlq", "redrive"), ("dlq", "redrive", "--reason", "x", "--operator", "")],
    "offsets show": [("offsets", "show", "--bogus"),
                     ("offsets", "show", "--topic", "ok", "--topic", "t" * 250)],
    "offsets reset": [("offsets", "reset", "--topic", "t"),
                      ("offsets", "reset", "--topic", "", "--to", "earliest")],
    "status": [("status", "--bogus")],
    "audit verify": [("audit", "verify", "--since", "yesterday")],
    "audit heads": [("audit", "heads", "--bogus")],
    "phi add-key": [("phi", "add-key")],
    "phi reseal": [("phi", "reseal", "--bogus")],
}


def test_every_command_has_a_bad_usage_row() -> None:
    commands = set(command_paths())
    assert commands, "no commands found"
    assert commands == set(BAD_USAGE) - {""}


def _id(args: tuple[str, ...]) -> str:
    return " ".join(a if len(a) < 40 else f"<{len(a)} chars>" for a in args)


@pytest.mark.parametrize("args", [a for rows in BAD_USAGE.values() for a in rows], ids=_id)
def test_bad_usage_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    result, _ = _cli(args, _env())
    line = _one_line_error(result, USAGE)
    assert result.stdout == ""
    assert len(line) < 400  # a megabyte of argument is not echoed back


def test_a_usage_error_says_where_to_read_more() -> None:
    result, _ = _cli(("replay", "--from-offset", "-3"), _env())
    assert "'emr-streams replay --help'" in _one_line_error(result, USAGE)


# -- settings missing or wrong: exit 1 -------------------------------------------------------

NEEDS_DATABASE = [("migrate", "status"), ("migrate", "up"), ("maintenance", "run"),
                  ("audit", "verify"), ("audit", "heads"), ("dlq", "list"), ("status",),
                  ("demo",), ("run",)]
NEEDS_KAFKA = [("topics", "create"), ("topics", "describe"), ("offsets", "show"),
               ("replay", "--topic", "t"), ("adapter", "synthetic", "--count", "1")]


@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=" ".join)
def test_a_missing_database_url_is_named(args: tuple[str, ...]) -> None:
    result, _ = _cli(args, _env(KAFKA_BOOTSTRAP_SERVERS=_DEAD_KAFKA))
    line = _one_line_error(result, CANNOT_RUN.get(args[0], ERROR))
    assert "DATABASE_URL" in line and "is not set" in line


@pytest.mark.parametrize("args", NEEDS_KAFKA, ids=" ".join)
def test_missing_bootstrap_servers_are_named(args: tuple[str, ...]) -> None:
    result, _ = _cli(args, _env(DATABASE_URL=_DEAD_DATABASE))
    line = _one_line_error(result, ERROR)
    assert "KAFKA_BOOTSTRAP_SERVERS" in line and "is not set" in line


@pytest.mark.parametrize("args", [*NEEDS_DATABASE, ("dlq", "redrive", "--reason", "x"),
                                  ("replay", "--topic", "t")], ids=" ".join)
def test_an_unparseable_database_url_is_one_line(args: tuple[str, ...]) -> None:
    result, _ = _cli(args, _env(DATABASE_URL="not-a-url:hunter2",
                                KAFKA_BOOTSTRAP_SERVERS=_DEAD_KAFKA))
    line = _one_line_error(result, CANNOT_RUN.get(args[0], ERROR))
    assert "DATABASE_URL is neither a postgresql:// URL nor libpq key=value pairs" in line


def test_a_bad_setting_is_named_by_its_variable() -> None:
    result, _ = _cli(("migrate", "status"), _env(EMR_STREAMS_PROCESSOR_BATCH_SIZE="many",
                                                 DATABASE_URL=_DEAD_DATABASE))
    assert "EMR_STREAMS_PROCESSOR_BATCH_SIZE" in _one_line_error(result, ERROR)


# -- Kafka or PostgreSQL unreachable: exit 1 within the bound ---------------------------------

UNREACHABLE = [("migrate", "status"), ("migrate", "up"), ("maintenance", "run"),
               ("topics", "create"), ("topics", "describe"), ("replay", "--topic", "t"),
               ("dlq", "list"), ("dlq", "show", "0"), ("dlq", "redrive", "--reason", "x"),
               ("offsets", "show"), ("offsets", "reset", "--topic", "t", "--to", "earliest"),
               ("audit", "verify"), ("audit", "heads")]


@pytest.mark.parametrize("args", UNREACHABLE, ids=" ".join)
def test_person_run_commands_give_up_within_the_bound(args: tuple[str, ...]) -> None:
    result, elapsed = _cli(args, _env(DATABASE_URL=_DEAD_DATABASE,
                                      KAFKA_BOOTSTRAP_SERVERS=_DEAD_KAFKA))
    line = _one_line_error(result, CANNOT_RUN.get(args[0], ERROR))
    assert "cannot connect to PostgreSQL" in line or "cannot reach Kafka" in line
    assert "refused" in line.lower()  # the reason, not only that it failed
    assert elapsed < TIMEOUT + SLACK


def test_status_reports_both_services_down_and_exits_1() -> None:
    result, elapsed = _cli(("status",), _env(DATABASE_URL=_DEAD_DATABASE,
                                             KAFKA_BOOTSTRAP_SERVERS=_DEAD_KAFKA))
    assert result.returncode == ERROR, result.stderr
    assert "database: UNREACHABLE" in result.stdout and "kafka: UNREACHABLE" in result.stdout
    assert "None" not in result.stdout and "unknown" in result.stdout
    assert elapsed < 2 * TIMEOUT + SLACK


# -- help ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", sorted(set(BAD_USAGE)), ids=lambda c: c or "emr-streams")
def test_help_is_readable_at_80_columns(command: str) -> None:
    result, _ = _cli((*command.split(), "--help"), _env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and lines[0].startswith("Usage: emr-streams")
    assert all(len(line) <= 80 for line in lines), [ln for ln in lines if len(ln) > 80]
    assert "…" not in result.stdout and "╭" not in result.stdout
    assert "<bool>" not in result.stdout
