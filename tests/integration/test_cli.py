"""The CLI as a user meets it: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from streams.config import Settings
from streams.kafka.admin import delete_topics
from streams.topology import state_topic

pytestmark = pytest.mark.integration


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_database_is_one_line_and_exit_1() -> None:
    url = f"postgresql://postgres:hunter2@127.0.0.1:{_closed_port()}/x"
    result = _cli("migrate", "status", env={"DATABASE_URL": url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emr-streams: error: cannot connect")
    assert "hunter2" not in result.stderr
    verbose = _cli("-v", "migrate", "status", env={"DATABASE_URL": url})
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_bad_arguments_exit_2_with_usage() -> None:
    result = _cli("migrate", "down")  # --to is required
    assert result.returncode == 2
    assert "--to" in result.stderr
    assert _cli("adapter", "synthetic", "--rate", "-1").returncode == 2


def test_migrate_and_topics_json(emr_settings: Settings) -> None:
    k = emr_settings.kafka
    fresh_prefix = f"{k.state_topic_prefix}-fresh"
    env = {"DATABASE_URL": emr_settings.database_url,
           "KAFKA_BOOTSTRAP_SERVERS": emr_settings.bootstrap_servers,
           "EMR_STREAMS_KAFKA_TASKS_TOPIC": k.tasks_topic,
           "EMR_STREAMS_KAFKA_HANDOVERS_TOPIC": k.handovers_topic,
           "EMR_STREAMS_KAFKA_VERIFICATIONS_TOPIC": k.verifications_topic,
           "EMR_STREAMS_KAFKA_STATE_TOPIC_PREFIX": fresh_prefix}
    status = _cli("migrate", "status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["pending"] == []
    settings = emr_settings.model_copy(update={
        "kafka": k.model_copy(update={"state_topic_prefix": fresh_prefix})})
    expected = sorted(state_topic(settings, a) for a in ("task", "handover",
                                                         "emr_verification"))
    try:
        # The inputs and dead-letter topics exist already: only the state topics are new.
        created = _cli("topics", "create", "--json", env=env)
        assert created.returncode == 0, created.stderr
        payload = json.loads(created.stdout)
        assert sorted(payload["created"]) == expected
        assert len(payload["topics"]) == 9
        again = json.loads(_cli("topics", "create", "--json", env=env).stdout)
        assert again["created"] == []
    finally:
        delete_topics(emr_settings.bootstrap_servers, expected)


@pytest.mark.parametrize("args", [("status",), ("offsets", "show")], ids=" ".join)
def test_an_empty_group_id_is_a_settings_error_not_an_abort(emr_settings: Settings,
                                                            args: tuple[str, ...]) -> None:
    """With Kafka up, an empty group id reached librdkafka, whose consumer asserted and
    aborted the process (exit 134, a C message on stderr)."""
    result = _cli(*args, env={"DATABASE_URL": emr_settings.database_url,
                              "KAFKA_BOOTSTRAP_SERVERS": emr_settings.bootstrap_servers,
                              "EMR_STREAMS_KAFKA_GROUP_ID": ""})
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "EMR_STREAMS_KAFKA_GROUP_ID" in lines[0], result.stderr
