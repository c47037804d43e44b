"""Settings: defaults, environment names, frozen."""

from __future__ import annotations

import pydantic
import pytest

from streams.config import Settings


@pytest.fixture(autouse=True)
def _real_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read settings as a deployment would: without the suite's clock offset."""
    monkeypatch.delenv("EMR_STREAMS_CLOCK_OFFSET_US", raising=False)


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "EMR_STREAMS_KAFKA_BOOTSTRAP_SERVERS",
                 "EMR_STREAMS_POSTGRES_URL", "EMR_STREAMS_STACK_KAFKA_PORT",
                 "EMR_STREAMS_STACK_POSTGRES_PORT", "EMR_STREAMS_STACK_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.database_url == "postgresql://postgres@127.0.0.1:15432/emr_streams"
    assert settings.librdkafka() == {"bootstrap.servers": "127.0.0.1:19092",
                                     "security.protocol": "plaintext"}


def test_conventional_names_and_prefixed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secret@db/x")
    monkeypatch.setenv("EMR_STREAMS_PROCESSOR_BATCH_SIZE", "42")
    monkeypatch.setenv("EMR_STREAMS_STACK_KAFKA_PORT", "29092")
    settings = Settings()
    assert settings.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.database_url == "postgresql://u:secret@db/x"
    assert settings.processor.batch_size == 42
    # The URL holds a password: it never shows in a repr.
    assert "secret" not in repr(settings)
    monkeypatch.setenv("EMR_STREAMS_KAFKA_BOOTSTRAP_SERVERS", "preferred:1")
    assert Settings().bootstrap_servers == "preferred:1"


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMR_STREAMS_PROCESSOR_BATCH_SIZE", "0")
    with pytest.raises(pydantic.ValidationError, match="batch_size"):
        Settings()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.processor.batch_size = 3  # type: ignore[misc]


def test_in_worker_maintenance_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMR_STREAMS_PROCESSOR_MAINTENANCE", raising=False)
    assert Settings().processor.maintenance is True
    monkeypatch.setenv("EMR_STREAMS_PROCESSOR_MAINTENANCE", "false")
    assert Settings().processor.maintenance is False
