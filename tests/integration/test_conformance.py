"""The conformance vectors (schemas/vectors), checked in Python against the real apply
path and PostgreSQL, and in Java with Apache Avro's own implementation: what an adapter
team in any language runs to know it speaks the contract."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from streams.contracts.models import MODEL_VERSIONS
from tests.conformance import (
    CATALOGUE,
    outcome,
    record_from_json,
    single_object,
    stored_vectors,
)
from tests.state_contract import assert_valid_state

pytestmark = pytest.mark.integration

JVM = Path(__file__).parents[1] / "jvm" / "conformance"


def test_there_is_a_vector_per_event_type_and_schema_version() -> None:
    found = {(v["schema"], v["version"], v["event_type"]) for _, v in stored_vectors()}
    per_schema = {"task_event": 6, "handover_event": 4, "verification_event": 3}
    assert len(found) == sum(count * MODEL_VERSIONS[name]
                             for name, count in per_schema.items())
    for name in per_schema:
        versions = {v.version for v in CATALOGUE.versions(name)}
        assert {version for schema, version, _ in found if schema == name} == versions


def test_python_reproduces_every_vector(db: psycopg.Connection[tuple[Any, ...]]) -> None:
    for path, vector in stored_vectors():
        name, version = vector["schema"], vector["version"]
        schema = next(v for v in CATALOGUE.versions(name) if v.version == version)
        assert schema.fingerprint.hex() == vector["fingerprint"], path
        record = record_from_json(name, version, vector["event"])
        data = single_object(name, version, record)
        assert data.hex() == vector["single_object_hex"], path
        state = outcome(db, bytes.fromhex(vector["single_object_hex"]),
                        str(record["aggregate_id"]))
        assert state == vector["state"], path
        assert_valid_state(state)


def test_java_reproduces_every_vector(tmp_path: Path) -> None:
    mvn, java = shutil.which("mvn"), shutil.which("java")
    assert mvn is not None and java is not None, "make test checks Java 17 and Maven"
    classpath = tmp_path / "classpath.txt"
    resolved = subprocess.run(
        [mvn, "-q", "-B", "-f", str(JVM / "pom.xml"), "dependency:build-classpath",
         f"-Dmdep.outputFile={classpath}"], capture_output=True, text=True, timeout=900,
        check=False, env={**os.environ, "MAVEN_OPTS": "-Xmx256m"})
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    result = subprocess.run(
        [java, "-cp", classpath.read_text().strip(), str(JVM / "Vectors.java"),
         str(CATALOGUE.folder)], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"ok {len(stored_vectors())}"
