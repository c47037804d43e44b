"""Settings: one frozen pydantic-settings model, read from the environment in one place.

Every field can come from an environment variable named ``EMR_STREAMS_<SECTION>_<FIELD>``
(for example ``EMR_STREAMS_PROCESSOR_BATCH_SIZE``). Two conventional names are honoured too:
``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL``. When neither names a server, the local
stack's (``deploy/local/stack``) addresses are used.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal, Self

from pydantic import (
    AliasChoices,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "KafkaSettings",
    "LimitsSettings",
    "PhiSettings",
    "PostgresSettings",
    "ProcessorSettings",
    "Settings",
    "StackSettings",
]


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore",
                              populate_by_name=True)


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "emr-streams"


class StackSettings(BaseSettings):
    """Where and on which ports the local development stack runs."""

    model_config = _section("EMR_STREAMS_STACK_")

    dir: Path = Field(Path(".stack"), description="State directory (data, logs, pids).")
    jar_cache: Path = Field(default_factory=_default_cache,
                            description="Cache for the Kafka jars resolved from Maven Central.")
    kafka_port: PositiveInt = 19092
    kafka_controller_port: PositiveInt = 19093
    kafka_heap: str = "512m"
    postgres_port: PositiveInt = 15432
    database: str = "emr_streams"


class KafkaSettings(BaseSettings):
    """The Kafka cluster, the topics and the consumer group of the processor."""

    model_config = _section("EMR_STREAMS_KAFKA_")

    bootstrap_servers: str | None = Field(
        None, validation_alias=AliasChoices("EMR_STREAMS_KAFKA_BOOTSTRAP_SERVERS",
                                            "KAFKA_BOOTSTRAP_SERVERS", "bootstrap_servers"))
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    tasks_topic: str = "emr.tasks.v1"
    handovers_topic: str = "emr.handovers.v1"
    verifications_topic: str = "emr.verifications.v1"
    state_topic_prefix: str = Field(
        "emr.state", description="Compacted merged-state topics: <prefix>.<aggregate>s.v1.")
    schema_registry_url: str | None = Field(
        None, description="Confluent schema registry: write Confluent framing when set.")
    schemas_dir: Path | None = Field(
        None, description="Folder of the .avsc files (default: schemas/ of the source).")
    group_id: str = "emr-streams-processor"
    topic_partitions: PositiveInt = 3


class PostgresSettings(BaseSettings):
    """The PostgreSQL server the processor writes to."""

    model_config = _section("EMR_STREAMS_POSTGRES_")

    url: SecretStr | None = Field(
        None, validation_alias=AliasChoices("EMR_STREAMS_POSTGRES_URL", "DATABASE_URL", "url"))
    pool_min_size: PositiveInt = 1
    pool_max_size: PositiveInt = 4
    migrations_dir: Path | None = Field(
        None, description="Folder of the SQL migrations (default: migrations/ of the source).")


class ProcessorSettings(BaseSettings):
    """How the stream agents batch and commit."""

    model_config = _section("EMR_STREAMS_PROCESSOR_")

    batch_size: PositiveInt = 500
    batch_timeout: PositiveFloat = Field(0.2, description="Seconds to wait to fill a batch.")
    commit_interval: PositiveFloat = Field(1.0, description="Seconds between offset commits.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    http_port: int = Field(8088, ge=0, le=65535,
                           description="Port of /healthz, /readyz and /metrics (0: off).")
    http_host: str = Field("127.0.0.1", description="Address the HTTP endpoints listen on "
                                                    "(0.0.0.0 in a container).")
    outbox_interval: PositiveFloat = Field(
        0.5, description="Seconds between runs of the state-topic relay.")
    maintenance: bool = Field(
        True, description="Run audit maintenance in the worker (at start, then hourly). It "
                          "needs the schema owner's rights: turn it off when the worker "
                          "connects as emr_processor, and schedule `emr-streams maintenance "
                          "run` as the owner instead.")


class PhiSettings(BaseSettings):
    """Field-level PHI encryption (docs/security.md): the keyring and what the sink does."""

    model_config = _section("EMR_STREAMS_PHI_")

    keys_file: Path | None = Field(
        None, description="JSON keyring file (a mounted secret): key-encryption keys by id, "
                          "the active id and the blind-index key. Producers seal PHI when a "
                          "keyring is set.")
    keys: SecretStr | None = Field(
        None, description="The keyring JSON itself, when no file is used.")
    active_key_id: str | None = Field(
        None, description="Key id new data keys are wrapped with (default: the keyring's "
                          "'active'). Rotate by adding a key and pointing this at it.")
    open_in_sink: bool = Field(
        False, description="Decrypt sealed PHI before writing it to PostgreSQL (default: "
                           "store it sealed). A value that does not open is dead-lettered.")


class LimitsSettings(BaseSettings):
    """Bounds on hostile input: a message that breaks one is dead-lettered with a reason
    naming the field and the bound (docs/hostile-input.md)."""

    model_config = _section("EMR_STREAMS_LIMITS_")

    max_message_bytes: PositiveInt = Field(
        1_048_576, description="Largest message value decoded; checked before decoding.")
    max_string_chars: PositiveInt = Field(
        65_536, description="Longest string (free text) in an event, in characters.")
    max_array_items: PositiveInt = Field(
        1_000, description="Most items in one array (handed-over tasks, checks, fields).")
    max_clock_entries: PositiveInt = Field(
        256, description="Most nodes in an event's vector clock.")
    max_clock_counter: int = Field(
        2**53 - 1, ge=0, lt=2**63,
        description="Largest vector clock counter and HLC logical counter (JSON-safe).")
    max_future_skew: NonNegativeFloat = Field(
        300.0, allow_inf_nan=False, description="Seconds an event's hlc.physical_us or "
                                                 "occurred_at may be ahead of this clock.")
    min_date: date = Field(date(1900, 1, 1),
                           description="Earliest plausible date or timestamp (UTC).")
    max_date: date = Field(date(2200, 1, 1),
                           description="Latest plausible date or timestamp (UTC).")

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.min_date >= self.max_date:
            raise ValueError("min_date must be before max_date")
        return self


class Settings(BaseSettings):
    """All settings of emr-streams."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    stack: StackSettings = Field(default_factory=StackSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    processor: ProcessorSettings = Field(default_factory=ProcessorSettings)
    phi: PhiSettings = Field(default_factory=PhiSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka bootstrap servers: the configured ones, else the local stack's."""
        return self.kafka.bootstrap_servers or f"127.0.0.1:{self.stack.kafka_port}"

    @property
    def database_url(self) -> str:
        """The database URL: the configured one, else the local stack's."""
        if self.postgres.url is not None:
            return self.postgres.url.get_secret_value()
        return f"postgresql://postgres@127.0.0.1:{self.stack.postgres_port}/{self.stack.database}"

    def librdkafka(self) -> dict[str, str]:
        """The confluent-kafka (librdkafka) client settings shared by every client."""
        return {"bootstrap.servers": self.bootstrap_servers,
                "security.protocol": self.kafka.security_protocol.lower()}
