"""Transport security end to end: a Kafka broker with mTLS and SASL_SSL SCRAM listeners and a
PostgreSQL server that admits TLS only, both started for this module from the devstack code
(never the shared stack), with certificates made by the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from streams.config import (
    KafkaSettings,
    PostgresSettings,
    ProcessorSettings,
    Settings,
    StackSettings,
)
from streams.db.migrate import MigrationRunner
from streams.devstack.kafka import KafkaNode, Listener
from streams.devstack.postgres import PostgresNode, ServerTLS
from streams.errors import StreamsError
from streams.kafka.admin import cluster_ready, describe_topics, ensure_topics
from streams.kafka.errors import KafkaAdminError
from streams.topology import project_topics
from tests.fixtures.certificates import CertificateSet, make_certificates
from tests.fixtures.database import with_database
from tests.fixtures.processor import ProcessorFactory, free_port, security_env, wait_for
from tests.fixtures.services import unavailable
from tests.integration.helpers import count, lag, produce, synthetic

pytestmark = pytest.mark.integration

SCRAM_USER = "emr-streams"
SCRAM_PASSWORD = f"scram-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class SecureStack:
    """The module's TLS broker and TLS-only PostgreSQL, and the PKI they use."""

    pki: CertificateSet
    kafka: KafkaNode
    postgres: PostgresNode
    template: str


def _server_with_openssl() -> Path:
    """The bin folder of a PostgreSQL server built with OpenSSL (the wheel's is not).

    ``EMR_STREAMS_TEST_POSTGRES_BIN`` names one; else the newest Debian ``postgresql``
    package (``deploy/local/check-tools`` installs it).
    """
    named = os.environ.get("EMR_STREAMS_TEST_POSTGRES_BIN")
    candidates = [Path(named)] if named else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name),
        reverse=True)
    for candidate in candidates:
        if (candidate / "postgres").exists() and (candidate / "pg_ctl").exists():
            return candidate
    unavailable("no PostgreSQL server built with OpenSSL: apt-get install postgresql, or "
                "set EMR_STREAMS_TEST_POSTGRES_BIN")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertificateSet:
    return make_certificates(tmp_path_factory.mktemp("pki"))


def _broker(home: Path, pki: CertificateSet, jar_cache: Path) -> KafkaNode:
    keystore = home / "server-keystore.pem"  # Kafka's PEM keystore: key and chain, one file
    keystore.write_bytes(pki.server_key.read_bytes() + pki.server_cert.read_bytes())
    keystore.chmod(0o600)
    return KafkaNode(
        # Ports the system hands out now, not fixed ones: another suite or service on
        # this machine may hold any fixed port.
        home=home, jar_cache=jar_cache, port=free_port(), controller_port=free_port(),
        heap="384m",
        listeners=(Listener("SSL", free_port()), Listener("SASL_SSL", free_port())),
        properties={
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(pki.ca),
            "listener.name.ssl.ssl.client.auth": "required",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        },
        format_args=("--add-scram",
                     f"SCRAM-SHA-512=[name={SCRAM_USER},password={SCRAM_PASSWORD}]"),
    )


@pytest.fixture(scope="module")
def secure_stack(pki: CertificateSet, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[SecureStack]:
    """One broker and one PostgreSQL for the module, stopped in teardown whatever happened."""
    kafka = _broker(tmp_path_factory.mktemp("kafka-tls"), pki,
                    StackSettings().jar_cache.resolve())
    # Not under pytest's base temp: each new pytest session chmods /tmp/pytest-of-<user>
    # back to 0700, which would lock the server user out of a running server's files.
    pg_home = Path(tempfile.mkdtemp(prefix="emr-streams-tls-postgres-"))
    postgres = PostgresNode(home=pg_home, port=free_port(),
                            database="postgres",
                            tls=ServerTLS(cert=pki.server_cert, key=pki.server_key, ca=pki.ca),
                            bin_dir=_server_with_openssl())
    try:
        try:
            postgres.start()
            kafka.start()
        except StreamsError as exc:
            unavailable(f"the TLS test servers did not start: {exc}")
        template = f"emr_tls_tpl_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
        MigrationRunner(with_database(postgres.url(), template)).up()
        yield SecureStack(pki, kafka, postgres, template)
    finally:
        try:
            kafka.stop()
        finally:
            postgres.stop()
            shutil.rmtree(pg_home, ignore_errors=True)


@pytest.fixture
def database_name(secure_stack: SecureStack) -> str:
    """A migrated database of this test's own on the TLS-only server."""
    name = f"emr_tls_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(secure_stack.postgres.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(secure_stack.template)))
    return name


def _plain_url(stack: SecureStack, database: str) -> str:
    """The server's URL without any TLS parameter (what a Kubernetes secret would hold)."""
    return f"postgresql://postgres@127.0.0.1:{stack.postgres.port}/{database}"


def _kafka_mtls(stack: SecureStack, **extra: object) -> KafkaSettings:
    values: dict[str, object] = {
        "bootstrap_servers": stack.kafka.address("SSL"), "security_protocol": "SSL",
        "ssl_cafile": stack.pki.ca, "ssl_certfile": stack.pki.client_cert,
        "ssl_keyfile": stack.pki.client_key, **extra}
    return KafkaSettings(**values)


def _kafka_scram(stack: SecureStack, **extra: object) -> KafkaSettings:
    values: dict[str, object] = {
        "bootstrap_servers": stack.kafka.address("SASL_SSL"), "security_protocol": "SASL_SSL",
        "ssl_cafile": stack.pki.ca, "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": SCRAM_USER, "sasl_password": SCRAM_PASSWORD, **extra}
    return KafkaSettings(**values)


def _settings(stack: SecureStack, kafka: KafkaSettings, database: str) -> Settings:
    """Settings for one test: its own topics and group, PostgreSQL over verify-full."""
    tag = uuid.uuid4().hex[:8]
    kafka = kafka.model_copy(update={
        "tasks_topic": f"tls.tasks.{tag}", "handovers_topic": f"tls.handovers.{tag}",
        "verifications_topic": f"tls.verifications.{tag}",
        "state_topic_prefix": f"tls.state.{tag}", "group_id": f"tls-group-{tag}"})
    return Settings(
        kafka=kafka,
        postgres=PostgresSettings(url=_plain_url(stack, database), sslmode="verify-full",
                                  sslrootcert=str(stack.pki.ca)),
        processor=ProcessorSettings(batch_size=200, commit_interval=0.5),
    )


def _run_processor(settings: Settings, log_dir: Path, events: int) -> None:
    """Produce *events*, run ``emr-streams run`` until all are applied and committed."""
    ensure_topics(settings.bootstrap_servers, project_topics(settings),
                  client_config=settings.librdkafka())
    produced = synthetic(events, seed=11)
    produce(settings, produced)
    factory = ProcessorFactory(settings, log_dir)
    processor = factory.start()
    try:
        url = settings.database_url
        wait_for(lambda: count(url, "processed_events") == events, timeout=120,
                 what="every event applied over TLS", on_timeout=processor.output)
        wait_for(lambda: lag(settings) == 0, timeout=60, what="offsets committed",
                 on_timeout=processor.output)
        # The processor's own sessions (its pool) are encrypted, with the server's name checked.
        with psycopg.connect(url) as conn:
            sessions = conn.execute(
                "SELECT count(*), bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a "
                "USING (pid) WHERE a.datname = current_database() "
                "AND a.pid <> pg_backend_pid()").fetchone()
        assert sessions is not None and sessions[0] >= 1 and sessions[1] is True, sessions
        assert processor.stop() == 0, processor.output()
    finally:
        if processor.process.poll() is None:
            processor.kill()
    assert count(url, "tasks") == len({e.aggregate_id for e in produced})


def test_processor_consumes_over_mtls_and_writes_over_verify_full(
        secure_stack: SecureStack, database_name: str, tmp_path: Path) -> None:
    settings = _settings(secure_stack, _kafka_mtls(secure_stack), database_name)
    _run_processor(settings, tmp_path, events=300)


def test_processor_and_confluent_clients_over_sasl_ssl_scram(
        secure_stack: SecureStack, database_name: str, tmp_path: Path) -> None:
    settings = _settings(secure_stack, _kafka_scram(secure_stack), database_name)
    _run_processor(settings, tmp_path, events=150)


def test_mtls_listener_refuses_a_client_without_certificate(secure_stack: SecureStack) -> None:
    anonymous = Settings(kafka=KafkaSettings(bootstrap_servers=secure_stack.kafka.address("SSL"),
                                             security_protocol="SSL",
                                             ssl_cafile=secure_stack.pki.ca))
    assert not cluster_ready(anonymous.bootstrap_servers, timeout=10,
                             client_config=anonymous.librdkafka())
    # The same listener with the client certificate answers: the refusal was the certificate.
    assert cluster_ready(anonymous.bootstrap_servers, timeout=10,
                         client_config=Settings(kafka=_kafka_mtls(secure_stack)).librdkafka())


def test_wrong_scram_password_is_an_authentication_error(secure_stack: SecureStack) -> None:
    wrong = Settings(kafka=_kafka_scram(secure_stack, sasl_password="not-the-password"))
    with pytest.raises(KafkaAdminError, match="SASL authentication error"):
        describe_topics(wrong.bootstrap_servers, ["any"], timeout=15,
                        client_config=wrong.librdkafka())


def test_wrong_ca_fails_fast_with_a_clear_cli_error(secure_stack: SecureStack) -> None:
    settings = Settings(kafka=_kafka_mtls(secure_stack, ssl_cafile=secure_stack.pki.other_ca))
    env = {**os.environ, **security_env(settings),
           "EMR_STREAMS_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "topics", "describe"],
                            capture_output=True, text=True, env=env, timeout=90, check=False)
    # Bounded by describe's 15 s metadata timeout (plus interpreter start), never a hang.
    assert time.monotonic() - started < 45
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("emr-streams: error:")
    assert "certificate verify failed" in lines[0], lines[0]



def test_postgres_verify_full_rejects_a_name_the_certificate_does_not_carry(
        secure_stack: SecureStack, database_name: str) -> None:
    url = _settings(secure_stack, _kafka_mtls(secure_stack), database_name).database_url
    psycopg.connect(url, connect_timeout=10).close()  # the right name: accepted
    # Same server (hostaddr), but the name checked against the certificate is another one.
    wrong_name = make_conninfo(url, host="db.elsewhere.example", hostaddr="127.0.0.1")
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(wrong_name, connect_timeout=10)


def test_postgres_verify_full_rejects_a_server_from_another_ca(
        secure_stack: SecureStack, database_name: str) -> None:
    url = make_conninfo(_plain_url(secure_stack, database_name), sslmode="verify-full",
                        sslrootcert=str(secure_stack.pki.other_ca))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(url, connect_timeout=10)


def test_postgres_refuses_plaintext_connections(secure_stack: SecureStack,
                                                database_name: str) -> None:
    url = make_conninfo(_plain_url(secure_stack, database_name), sslmode="disable")
    with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects connection"):
        psycopg.connect(url, connect_timeout=10)
