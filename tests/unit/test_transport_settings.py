"""Transport-security settings: validation, the librdkafka and libpq renderings, the TLS context."""

from __future__ import annotations

import ssl
from pathlib import Path

import pydantic
import pytest
from psycopg.conninfo import conninfo_to_dict

from streams.cli._common import load_settings
from streams.config import KafkaSettings, PostgresSettings, Settings
from streams.errors import ConfigError
from streams.tls import kafka_ssl_context
from tests.fixtures.certificates import CertificateSet


@pytest.fixture(autouse=True)
def _real_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read settings as a deployment would: without the suite's clock offset."""
    monkeypatch.delenv("EMR_STREAMS_CLOCK_OFFSET_US", raising=False)


def _mtls(certs: CertificateSet, **extra: object) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers="b:9093", security_protocol="SSL",
                         ssl_cafile=certs.ca, ssl_certfile=certs.client_cert,
                         ssl_keyfile=certs.client_key, **extra)


def test_mtls_settings_render_to_librdkafka(certificates: CertificateSet) -> None:
    conf = Settings(kafka=_mtls(certificates)).librdkafka()
    assert conf == {"bootstrap.servers": "b:9093", "security.protocol": "ssl",
                    "ssl.endpoint.identification.algorithm": "https",
                    "ssl.ca.location": str(certificates.ca),
                    "ssl.certificate.location": str(certificates.client_cert),
                    "ssl.key.location": str(certificates.client_key)}


def test_sasl_ssl_settings_render_to_librdkafka_and_hide_secrets(
        certificates: CertificateSet) -> None:
    kafka = KafkaSettings(bootstrap_servers="b:9094", security_protocol="SASL_SSL",
                          ssl_cafile=certificates.ca, ssl_check_hostname=False,
                          sasl_mechanism="SCRAM-SHA-512", sasl_username="emr",
                          sasl_password="s3cret-pw")
    settings = Settings(kafka=kafka)
    conf = settings.librdkafka()
    assert conf["security.protocol"] == "sasl_ssl"
    assert conf["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("emr", "s3cret-pw")
    assert conf["ssl.endpoint.identification.algorithm"] == "none"
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in str(settings.model_dump())


@pytest.mark.parametrize(("values", "message"), [
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}, "SASL_USERNAME"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": "p"},
     "SASL_MECHANISM"),
    ({"security_protocol": "PLAINTEXT", "sasl_username": "u"}, "does not use SASL"),
    ({"security_protocol": "SSL", "ssl_keyfile": "KEY"}, "go together"),
    ({"security_protocol": "SSL", "ssl_certfile": "CERT"}, "go together"),
    ({"security_protocol": "PLAINTEXT", "ssl_cafile": "CA"}, "does not use SSL"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_username": "u",
      "sasl_password": "p", "ssl_cafile": "CA"}, "does not use SSL"),
    ({"security_protocol": "SSL", "ssl_key_password": "x"}, "without ssl_keyfile"),
])
def test_inconsistent_kafka_security_is_rejected(certificates: CertificateSet,
                                                 values: dict[str, str], message: str) -> None:
    files = {"KEY": certificates.client_key, "CERT": certificates.client_cert,
             "CA": certificates.ca}
    with pytest.raises(pydantic.ValidationError, match=message):
        KafkaSettings(**{k: files.get(v, v) for k, v in values.items()})


def test_missing_certificate_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="ssl_cafile"):
        KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "absent.pem")


def test_cli_turns_bad_settings_into_one_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMR_STREAMS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("EMR_STREAMS_KAFKA_SASL_PASSWORD", "do-not-print-me")
    with pytest.raises(ConfigError, match="SASL_MECHANISM") as caught:
        load_settings()
    assert "do-not-print-me" not in str(caught.value)


def test_postgres_ssl_settings_are_merged_into_the_url(certificates: CertificateSet) -> None:
    settings = Settings(postgres=PostgresSettings(
        url="postgresql://app:pw@db.example:5432/emr?sslmode=prefer&application_name=x",
        sslmode="verify-full", sslrootcert=str(certificates.ca),
        sslcert=certificates.client_cert, sslkey=certificates.client_key))
    params = conninfo_to_dict(settings.database_url)
    assert params == {"user": "app", "password": "pw", "host": "db.example", "port": "5432",
                      "dbname": "emr", "application_name": "x", "sslmode": "verify-full",
                      "sslrootcert": str(certificates.ca),
                      "sslcert": str(certificates.client_cert),
                      "sslkey": str(certificates.client_key)}


def test_postgres_url_is_untouched_without_ssl_settings() -> None:
    url = "postgresql://app@db/emr?sslmode=verify-full&sslrootcert=/ca.pem"
    assert Settings(postgres=PostgresSettings(url=url)).database_url == url


def test_postgres_client_cert_needs_its_key(certificates: CertificateSet) -> None:
    with pytest.raises(pydantic.ValidationError, match="sslcert and sslkey"):
        PostgresSettings(sslcert=certificates.client_cert)


def test_kafka_ssl_context_verifies_and_presents_the_client_certificate(
        certificates: CertificateSet) -> None:
    context = kafka_ssl_context(_mtls(certificates))
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "emr-test-ca"),),)]
    relaxed = kafka_ssl_context(_mtls(certificates, ssl_check_hostname=False))
    assert relaxed is not None and relaxed.check_hostname is False
    assert relaxed.verify_mode == ssl.CERT_REQUIRED
    assert kafka_ssl_context(KafkaSettings()) is None


def test_kafka_ssl_context_reports_a_key_that_does_not_match(
        certificates: CertificateSet) -> None:
    kafka = KafkaSettings(security_protocol="SSL", ssl_certfile=certificates.client_cert,
                          ssl_keyfile=certificates.server_key)
    with pytest.raises(ConfigError, match="Kafka TLS context"):
        kafka_ssl_context(kafka)
