"""Deployment files stay consistent with the code and the README."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from streams.devstack.kafka import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_parses_and_has_the_services_the_readme_names() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"compose service `([a-z-]+)`", readme))
    assert named, "the README names the compose services"
    assert named <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["postgres"]["image"].startswith("timescale/timescaledb:")
    assert services["processor"]["command"] == ["emr-streams", "run"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_kafka_version_is_the_same_in_pom_code_compose_and_readme() -> None:
    pom = (ROOT / "deploy" / "local" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert f"Apache Kafka {KAFKA_VERSION}" in (ROOT / "README.md").read_text()


def test_dockerfile_ships_the_migrations_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "COPY migrations" in dockerfile
    assert "EMR_STREAMS_POSTGRES_MIGRATIONS_DIR" in dockerfile
    assert re.search(r"^USER \d+", dockerfile, re.MULTILINE)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make demo" in readme
