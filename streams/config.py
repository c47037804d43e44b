"""Settings: one frozen pydantic-settings model, read from the environment in one place.

Every field can come from an environment variable named ``EMR_STREAMS_<SECTION>_<FIELD>``
(for example ``EMR_STREAMS_PROCESSOR_BATCH_SIZE``). Two conventional names are honoured too:
``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL``.

There are no development fallbacks: a command that needs Kafka or PostgreSQL and is not told
where they are stops with a one-line error naming the setting. Only the local profile
(``EMR_STREAMS_PROFILE=local``, which ``make demo``, ``make test`` and
``deploy/local/stack`` set) falls back to the local stack's addresses and folders.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Literal, Self

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import (
    AfterValidator,
    AliasChoices,
    Field,
    FilePath,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.errors import ConfigError

__all__ = [
    "ClockSettings",
    "CommandSettings",
    "KafkaSettings",
    "LimitsSettings",
    "PhiSettings",
    "PostgresSettings",
    "ProcessorSettings",
    "Settings",
    "StackSettings",
    "kafka_name_problem",
]


#: Kafka's rule for a topic name (org.apache.kafka.common.internals.Topic) and a static
#: member id (JoinGroupRequest.validateGroupInstanceId): 1 to 249 of these characters, and
#: neither "." nor "..".
_KAFKA_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def kafka_name_problem(name: str, limit: int = 249, what: str = "topic name") -> str | None:
    """Why *name* cannot be a Kafka topic (or, with *what*, a static member id) of at most
    *limit* characters, or None when it can."""
    if name in {".", ".."} or len(name) > limit or not _KAFKA_NAME.fullmatch(name):
        return (f"not a Kafka {what} (1 to {limit} of a-z, A-Z, 0-9, '.', '_', '-', "
                f"not '.' or '..'; {len(name)} characters given)")
    return None


def _kafka_name(limit: int, what: str = "topic name") -> AfterValidator:
    def check(name: str) -> str:
        problem = kafka_name_problem(name, limit, what)
        if problem:
            raise ValueError(problem)
        return name
    return AfterValidator(check)


#: An input topic leaves room for its dead-letter topic's ".dlq".
InputTopic = Annotated[str, _kafka_name(249 - len(".dlq"))]
#: A state topic prefix leaves room for the longest ".<aggregates>.v1".
TopicPrefix = Annotated[str, _kafka_name(249 - len(".verifications.v1"))]


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
    ssl_cafile: FilePath | None = Field(
        None, description="PEM CA bundle that signed the brokers' certificates "
                          "(default: the system's trust store).")
    ssl_certfile: FilePath | None = Field(
        None, description="PEM client certificate (chain) for mutual TLS.")
    ssl_keyfile: FilePath | None = Field(
        None, description="PEM private key of ssl_certfile.")
    ssl_key_password: SecretStr | None = Field(
        None, description="Password of ssl_keyfile when it is encrypted.")
    ssl_check_hostname: bool = Field(
        True, description="Check that a broker's certificate names the host connected to.")
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] | None = Field(
        None, description="SASL mechanism (required with SASL_SSL / SASL_PLAINTEXT).")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    tasks_topic: InputTopic = "emr.tasks.v1"
    handovers_topic: InputTopic = "emr.handovers.v1"
    verifications_topic: InputTopic = "emr.verifications.v1"
    state_topic_prefix: TopicPrefix = Field(
        "emr.state", description="Compacted merged-state topics: <prefix>.<aggregate>s.v1.")
    schema_registry_url: str | None = Field(
        None, description="Confluent schema registry: write Confluent framing when set.")
    schemas_dir: Path | None = Field(
        None, description="Folder of the .avsc files (default: schemas/ of the source).")
    group_id: str = Field("emr-streams-processor", min_length=1,
                          description="The processor's consumer group (not empty).")
    group_instance_id: Annotated[str, _kafka_name(249, "static member id")] | None = Field(
        None, description="Static group membership: a restarted worker with the same id "
                          "gets its partitions back at once, without a rebalance (one id "
                          "per worker, stable across restarts, e.g. the pod name).")
    session_timeout: PositiveFloat = Field(
        10.0, description="Seconds without a heartbeat before the broker gives a dead "
                          "worker's partitions to another (a kill -9 costs this long).")
    heartbeat_interval: PositiveFloat = Field(
        3.0, description="Seconds between the worker's heartbeats (below a third of "
                         "session_timeout).")
    topic_partitions: PositiveInt = 3

    @property
    def uses_ssl(self) -> bool:
        """True when connections to the brokers are encrypted (SSL or SASL_SSL)."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        """True when clients authenticate with SASL (SASL_SSL or SASL_PLAINTEXT)."""
        return self.security_protocol.startswith("SASL_")

    @model_validator(mode="after")
    def _consistent_security(self) -> KafkaSettings:
        """Reject combinations that would be ignored silently or fail at the first connect."""
        problems = []
        if self.uses_sasl:
            if self.sasl_mechanism is None:
                problems.append(f"security_protocol {self.security_protocol} needs "
                                "EMR_STREAMS_KAFKA_SASL_MECHANISM")
            if not self.sasl_username or self.sasl_password is None:
                problems.append(f"security_protocol {self.security_protocol} needs "
                                "EMR_STREAMS_KAFKA_SASL_USERNAME and _SASL_PASSWORD")
        elif (self.sasl_mechanism or self.sasl_username
              or self.sasl_password is not None):
            problems.append("SASL settings are set but security_protocol "
                            f"{self.security_protocol} does not use SASL")
        ssl_files = (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile,
                     self.ssl_key_password)
        if not self.uses_ssl and any(v is not None for v in ssl_files):
            problems.append("SSL settings are set but security_protocol "
                            f"{self.security_protocol} does not use SSL")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            problems.append("ssl_certfile and ssl_keyfile go together (mutual TLS)")
        if self.ssl_key_password is not None and self.ssl_keyfile is None:
            problems.append("ssl_key_password is set without ssl_keyfile")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class PostgresSettings(BaseSettings):
    """The PostgreSQL server the processor writes to."""

    model_config = _section("EMR_STREAMS_POSTGRES_")

    url: SecretStr | None = Field(
        None, validation_alias=AliasChoices("EMR_STREAMS_POSTGRES_URL", "DATABASE_URL", "url"))
    pool_min_size: PositiveInt = 1
    pool_max_size: PositiveInt = 4
    migrations_dir: Path | None = Field(
        None, description="Folder of the SQL migrations (default: migrations/ of the source).")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca",
                     "verify-full"] | None = Field(
        None, description="libpq sslmode, merged into the URL (production: verify-full).")
    sslrootcert: str | None = Field(
        None, description="CA file that signed the server certificate (libpq 'system' too).")
    sslcert: Path | None = Field(None, description="Client certificate (PEM).")
    sslkey: Path | None = Field(None, description="Private key of sslcert (PEM, mode 0600).")

    @model_validator(mode="after")
    def _consistent_ssl(self) -> PostgresSettings:
        if (self.sslcert is None) != (self.sslkey is None):
            raise ValueError("sslcert and sslkey go together (client certificate)")
        if self.url is not None:
            try:
                conninfo_to_dict(self.url.get_secret_value())
            except psycopg.Error:
                # psycopg's message quotes the string, which may hold a password: not shown.
                raise ValueError("DATABASE_URL is neither a postgresql:// URL nor libpq "
                                 "key=value pairs") from None
        return self

    def ssl_parameters(self) -> dict[str, str]:
        """The libpq TLS parameters that are set, to merge into the connection string."""
        values = {"sslmode": self.sslmode, "sslrootcert": self.sslrootcert,
                  "sslcert": self.sslcert, "sslkey": self.sslkey}
        return {name: str(value) for name, value in values.items() if value is not None}


class ProcessorSettings(BaseSettings):
    """How the stream agents batch and commit."""

    model_config = _section("EMR_STREAMS_PROCESSOR_")

    batch_size: PositiveInt = 500
    batch_timeout: PositiveFloat = Field(
        0.05, description="Seconds to wait to fill a batch. Also bounds a batch under backlog "
        "(faust fills it for this long): lower for latency at low rates, higher for "
        "throughput. 0.05 s measured as fast as 0.2 s with a third of the latency at 200 "
        "events/s (BENCHMARKS.md).")
    commit_interval: PositiveFloat = Field(1.0, description="Seconds between offset commits.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    http_port: int = Field(8088, ge=0, le=65535,
                           description="Port of /healthz, /readyz and /metrics (0: off).")
    http_host: str = Field("127.0.0.1", description="Address the HTTP endpoints listen on "
                                                    "(0.0.0.0 in a container).")
    outbox_interval: PositiveFloat = Field(
        0.5, description="Seconds between runs of the state-topic relay.")
    poison_breaker: NonNegativeInt = Field(
        100, description="Records refused in a row at the apply stage before consumption of "
                         "the topic pauses instead of dead-lettering (0: never pause).")
    maintenance: bool = Field(
        True, description="Run audit maintenance in the worker (at start, then hourly). It "
                          "needs the schema owner's rights: turn it off when the worker "
                          "connects as emr_processor, and schedule `emr-streams maintenance "
                          "run` as the owner instead.")
    min_partitions_ahead: NonNegativeInt = Field(
        2, description="Months of audit partitions that must exist beyond the current one; "
                       "with fewer, /readyz answers 503 (native partitions only; 0: never).")
    partition_check_interval: PositiveFloat = Field(
        300.0, description="Seconds between checks of the audit partitions ahead.")


class CommandSettings(BaseSettings):
    """Commands run by a person (everything but ``run``, ``adapter`` and ``demo``)."""

    model_config = _section("EMR_STREAMS_COMMAND_")

    timeout: PositiveFloat = Field(
        30.0, description="Seconds a command run by a person waits for an unreachable "
                          "Kafka or PostgreSQL before it stops with the reason (exit code "
                          "1). The worker waits out outages instead.")


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
    publish_plaintext: bool = Field(
        False, description="Let plaintext PHI (opened in the sink, or sent unsealed) leave "
                           "the database on the state topics and in conflict rows (default: "
                           "those carry sealed values only; a plaintext one is null).")


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
    max_node_id_chars: PositiveInt = Field(
        128, description="Longest node id (vector clock key, hlc.node, origin_node).")
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


class ClockSettings(BaseSettings):
    """Testing only: the project's clock (streams/clock.py)."""

    model_config = _section("EMR_STREAMS_CLOCK_")

    offset_us: int = Field(
        0, description="Testing only, never in production: shift the clock of this process "
                       "and of its PostgreSQL sessions by this many microseconds. The test "
                       "suite sets it from EMR_STREAMS_TEST_NOW.")


class Settings(BaseSettings):
    """All settings of emr-streams."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    profile: Literal["production", "local"] = Field(
        "production", validation_alias=AliasChoices("EMR_STREAMS_PROFILE", "profile"),
        description="local: fall back to the local stack's Kafka, PostgreSQL and folders "
                    "when a setting is missing (make demo, make test, deploy/local/stack "
                    "set it). production (default): a missing setting is an error.")
    stack: StackSettings = Field(default_factory=StackSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    processor: ProcessorSettings = Field(default_factory=ProcessorSettings)
    phi: PhiSettings = Field(default_factory=PhiSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    clock: ClockSettings = Field(default_factory=ClockSettings)
    command: CommandSettings = Field(default_factory=CommandSettings)

    @property
    def local(self) -> bool:
        """True in the local profile (the development stack's fallbacks apply)."""
        return self.profile == "local"

    @property
    def state_dir(self) -> Path:
        """Where commands keep files between runs (replay checkpoints): the stack folder in
        the local profile, else ``$XDG_STATE_HOME/emr-streams`` (~/.local/state/...)."""
        if self.local:
            return self.stack.dir
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / "emr-streams"

    def _missing(self, names: str) -> ConfigError:
        return ConfigError(f"{names} is not set (EMR_STREAMS_PROFILE=local uses the local "
                           "stack's)")

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka bootstrap servers: the configured ones, else (local profile only) the
        local stack's; otherwise ConfigError."""
        if self.kafka.bootstrap_servers:
            return self.kafka.bootstrap_servers
        if not self.local:
            raise self._missing("KAFKA_BOOTSTRAP_SERVERS (or "
                                "EMR_STREAMS_KAFKA_BOOTSTRAP_SERVERS)")
        return f"127.0.0.1:{self.stack.kafka_port}"

    @property
    def database_url(self) -> str:
        """The database URL: the configured one, else (local profile only) the local
        stack's; otherwise ConfigError.

        The ``EMR_STREAMS_POSTGRES_SSL*`` settings that are set are merged in and win over
        the same parameters in the URL; the result is then a libpq ``key=value`` string.
        A shifted clock (``clock.offset_us``, tests only) is passed to every session as the
        ``emr_streams.clock_offset_us`` setting, so ``emr_now()`` agrees with this process.
        """
        if self.postgres.url is not None and self.postgres.url.get_secret_value().strip():
            url = self.postgres.url.get_secret_value()
        elif not self.local:
            raise self._missing("DATABASE_URL (or EMR_STREAMS_POSTGRES_URL)")
        else:
            url = (f"postgresql://postgres@127.0.0.1:{self.stack.postgres_port}/"
                   f"{self.stack.database}")
        extra = self.postgres.ssl_parameters()
        if self.clock.offset_us:
            options = conninfo_to_dict(url).get("options") or ""
            extra["options"] = (f"{options} -c emr_streams.clock_offset_us="
                                f"{self.clock.offset_us}").strip()
        return make_conninfo(url, **extra) if extra else url

    def librdkafka(self) -> dict[str, str]:
        """The confluent-kafka (librdkafka) client settings shared by every client.

        Holds the SASL password and the key password in clear: never log it.
        """
        kafka = self.kafka
        conf = {"bootstrap.servers": self.bootstrap_servers,
                "security.protocol": kafka.security_protocol.lower()}
        if kafka.uses_ssl:
            conf["ssl.endpoint.identification.algorithm"] = (
                "https" if kafka.ssl_check_hostname else "none")
            optional = {"ssl.ca.location": kafka.ssl_cafile,
                        "ssl.certificate.location": kafka.ssl_certfile,
                        "ssl.key.location": kafka.ssl_keyfile}
            conf.update({k: str(v) for k, v in optional.items() if v is not None})
            if kafka.ssl_key_password is not None:
                conf["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
        # With a SASL_* protocol the validator has made sure all three are set.
        if kafka.sasl_mechanism is not None:
            conf["sasl.mechanisms"] = kafka.sasl_mechanism
        if kafka.sasl_username is not None:
            conf["sasl.username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            conf["sasl.password"] = kafka.sasl_password.get_secret_value()
        return conf
