"""Settings: defaults, environment names, frozen."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from streams.config import Settings, kafka_name_problem
from streams.errors import ConfigError


@pytest.fixture(autouse=True)
def _real_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read settings as a deployment would: without the suite's clock offset."""
    monkeypatch.delenv("EMR_STREAMS_CLOCK_OFFSET_US", raising=False)


_SERVER_SETTINGS = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL",
                    "EMR_STREAMS_KAFKA_BOOTSTRAP_SERVERS", "EMR_STREAMS_POSTGRES_URL",
                    "EMR_STREAMS_STACK_KAFKA_PORT", "EMR_STREAMS_STACK_POSTGRES_PORT",
                    "EMR_STREAMS_STACK_DATABASE", "EMR_STREAMS_STACK_DIR", "XDG_STATE_HOME")


def test_production_has_no_development_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _SERVER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("EMR_STREAMS_PROFILE", raising=False)
    settings = Settings()
    assert settings.profile == "production"
    with pytest.raises(ConfigError, match=r"^KAFKA_BOOTSTRAP_SERVERS .*is not set"):
        _ = settings.bootstrap_servers
    with pytest.raises(ConfigError, match=r"^DATABASE_URL .*is not set"):
        _ = settings.database_url
    monkeypatch.setenv("DATABASE_URL", "  ")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        _ = Settings().database_url
    # Checkpoints go to the user's state folder, not into a stack folder.
    assert settings.state_dir == Path.home() / ".local" / "state" / "emr-streams"


def test_local_profile_points_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _SERVER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EMR_STREAMS_PROFILE", "local")
    settings = Settings()
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert settings.database_url == "postgresql://postgres@127.0.0.1:15432/emr_streams"
    assert settings.librdkafka() == {"bootstrap.servers": "127.0.0.1:19092",
                                     "security.protocol": "plaintext"}
    assert settings.state_dir == Path(".stack")


@pytest.mark.parametrize("url", ["not-a-url", "host=db port", "postgresql://h/x?sslmode"])
def test_an_unparseable_database_url_is_refused_without_echoing_it(
        monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings()
    messages = [error["msg"] for error in caught.value.errors()]
    assert any("neither a postgresql:// URL nor libpq key=value pairs" in m for m in messages)
    # The message the CLI prints: the string may hold a password, it is not quoted.
    assert not any(url in m for m in messages)


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


@pytest.mark.parametrize(("name", "valid"), [
    ("emr.tasks.v1", True), ("a", True), ("A-b_c.9", True), ("t" * 249, True),
    ("", False), (".", False), ("..", False), ("t" * 250, False), ("a b", False),
    ("tâche", False), ("a/b", False)])
def test_topic_names_follow_kafkas_rule(name: str, valid: bool) -> None:
    """Kafka's Topic.validate: 1 to 249 of [a-zA-Z0-9._-], and not "." or ".."."""
    assert (kafka_name_problem(name) is None) is valid


@pytest.mark.parametrize(("variable", "value"), [
    ("EMR_STREAMS_KAFKA_GROUP_ID", ""),
    ("EMR_STREAMS_KAFKA_GROUP_INSTANCE_ID", ""),
    ("EMR_STREAMS_KAFKA_GROUP_INSTANCE_ID", ".."),
    ("EMR_STREAMS_KAFKA_GROUP_INSTANCE_ID", "pod/1"),
    ("EMR_STREAMS_KAFKA_TASKS_TOPIC", ""),
    ("EMR_STREAMS_KAFKA_HANDOVERS_TOPIC", "."),
    ("EMR_STREAMS_KAFKA_VERIFICATIONS_TOPIC", "emr verifications"),
    ("EMR_STREAMS_KAFKA_TASKS_TOPIC", "t" * 246),  # its ".dlq" would pass 249
    ("EMR_STREAMS_KAFKA_STATE_TOPIC_PREFIX", ""),
    ("EMR_STREAMS_KAFKA_STATE_TOPIC_PREFIX", "p" * 233),  # ".verifications.v1" would pass 249
])
def test_kafka_names_that_kafka_refuses_are_refused_at_startup(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    """An empty group id aborted the process inside librdkafka (exit 134); an empty or
    illegal topic failed later, at the broker. Each is a settings error naming its variable."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings()
    field = variable.removeprefix("EMR_STREAMS_KAFKA_").lower()
    assert caught.value.errors()[0]["loc"][-1] == field


def test_the_longest_kafka_names_that_fit_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMR_STREAMS_KAFKA_TASKS_TOPIC", "t" * 245)
    monkeypatch.setenv("EMR_STREAMS_KAFKA_STATE_TOPIC_PREFIX", "p" * 232)
    monkeypatch.setenv("EMR_STREAMS_KAFKA_GROUP_INSTANCE_ID", "i" * 249)
    kafka = Settings().kafka
    assert kafka.tasks_topic == "t" * 245 and kafka.group_instance_id == "i" * 249
    assert kafka.state_topic_prefix == "p" * 232
