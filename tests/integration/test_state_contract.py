"""The state topics' contract: every state the processor publishes matches its JSON Schema
(schemas/state), and Java reads its timestamps as the instants the processor meant."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from streams.sink import apply_batch
from tests.integration.helpers import CODEC, records, synthetic
from tests.state_contract import assert_valid_state
from tests.unit.events_fixtures import every_event

pytestmark = pytest.mark.integration

JAVA_SOURCE = Path(__file__).parents[1] / "jvm" / "ParseInstants.java"


def _published_states(db: psycopg.Connection[tuple[Any, ...]]) -> list[dict[str, Any]]:
    events = [*synthetic(200, seed=5, concurrent_rate=0.1), *every_event()]
    outcome = apply_batch(db, records(events), codec=CODEC)
    assert outcome.poison == []
    return [row[0] for row in db.execute("SELECT state FROM state_outbox ORDER BY id")]


def _timestamps(state: dict[str, Any]) -> list[str]:
    names = ("created_at", "updated_at", "due_date", "completed_at", "initiated_at",
             "accepted_at", "verified_at")
    return [state[n] for n in names if isinstance(state.get(n), str)]


def test_every_state_matches_its_schema(db: psycopg.Connection[tuple[Any, ...]]) -> None:
    states = _published_states(db)
    assert {s["aggregate_type"] for s in states} == {"task", "handover", "emr_verification"}
    for state in states:
        assert_valid_state(state)
        assert state["hlc"]["node"]  # the full clock: the newest event's node too


def test_java_reads_every_timestamp_as_the_same_instant(
        db: psycopg.Connection[tuple[Any, ...]]) -> None:
    java = shutil.which("java")
    assert java is not None, "the suite runs the broker on Java 17: java must be on PATH"
    stamps = [t for state in _published_states(db) for t in _timestamps(state)]
    assert len(stamps) > 300
    result = subprocess.run([java, str(JAVA_SOURCE)], input="\n".join(stamps) + "\n",
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    read = [int(v) for v in result.stdout.split()]
    expected = [round(datetime.fromisoformat(t).timestamp() * 1_000_000) for t in stamps]
    assert read == expected
