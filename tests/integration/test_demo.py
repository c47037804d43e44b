"""The demo, as a new user runs it: twice on one stack, every event applied both times."""

from __future__ import annotations

import re

import pytest

from streams.config import Settings
from tests.fixtures.processor import free_port
from tests.integration.helpers import cli, count

pytestmark = pytest.mark.integration


def test_the_demo_twice_on_one_stack_applies_every_event(emr_settings: Settings) -> None:
    """Each run starts a new adapter (new patients, the same staff and departments); the
    second run's events name identities the first created, and none is dead-lettered."""
    produced = 0
    for _ in range(2):
        result = cli(emr_settings, "demo", "--rate", "100", "--duration", "3",
                     "--drain-timeout", "120",
                     EMR_STREAMS_PROCESSOR_HTTP_PORT=str(free_port()))
        assert result.returncode == 0, result.stdout + result.stderr
        summary = re.search(r"produced (\d+) events; (\d+) applied; (\d+) dead-lettered",
                            result.stdout)
        assert summary is not None, result.stdout
        sent, applied, dead = map(int, summary.groups())
        assert sent > 0 and (applied, dead) == (sent, 0), result.stdout
        assert "dead-lettered" in result.stdout  # the live table's column
        produced += sent
    url = emr_settings.database_url
    assert count(url, "dead_letters") == 0
    assert count(url, "processed_events") == produced
    assert count(url, "users") <= 40  # the adapter's staff, whatever the runs' ids
