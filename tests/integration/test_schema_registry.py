"""The Confluent wire format against a real registry (Apicurio Registry's Confluent-
compatible API, tests/fixtures/apicurio.py), and its compatibility rules against ours."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from streams.contracts import AvroCodec, SchemaCatalogue
from streams.contracts.compatibility import check_pair
from streams.contracts.models import MODEL_VERSIONS, event_from_avro
from streams.kafka.schema_registry import ConfluentSchemaRegistry
from streams.sink import apply_batch
from tests.integration.helpers import records
from tests.unit.events_fixtures import every_event

pytestmark = pytest.mark.integration

CATALOGUE = SchemaCatalogue()


@pytest.fixture
def registries(apicurio_registry: str) -> Iterator[list[ConfluentSchemaRegistry]]:
    """Registry clients made by a test, closed after it (the server keeps connections)."""
    made: list[ConfluentSchemaRegistry] = []
    yield made
    for registry in made:
        registry.close()


def _codec(url: str, made: list[ConfluentSchemaRegistry]) -> AvroCodec:
    made.append(ConfluentSchemaRegistry(url))
    return AvroCodec(CATALOGUE, registry=made[-1], versions=MODEL_VERSIONS)


def test_every_event_round_trips_through_the_registry(
        apicurio_registry: str, registries: list[ConfluentSchemaRegistry]) -> None:
    writer = _codec(apicurio_registry, registries)
    encoded = [(e, writer.encode(e.schema_name, e.to_avro())) for e in every_event()]
    reader = _codec(apicurio_registry, registries)  # a new process: it knows no id yet
    for event, data in encoded:
        assert data[:1] == b"\x00"
        decoded = reader.decode(data)
        assert decoded.framing == "confluent"
        assert event_from_avro(decoded.schema, decoded.record) == event
    # Subjects follow the record-name strategy: one per event record.
    with SchemaRegistryClient({"url": apicurio_registry}) as client:
        subjects = set(client.get_subjects())
    assert {v.full_name for name in MODEL_VERSIONS for v in CATALOGUE.versions(name)} <= subjects


def test_the_apply_path_reads_registry_framed_events(
        db: psycopg.Connection[tuple[Any, ...]], apicurio_registry: str,
        registries: list[ConfluentSchemaRegistry]) -> None:
    events = every_event()
    codec = _codec(apicurio_registry, registries)
    framed = [r.__class__(topic=r.topic, partition=r.partition, offset=r.offset, key=r.key,
                          value=codec.encode(e.schema_name, e.to_avro()))
              for r, e in zip(records(events), events, strict=True)]
    outcome = apply_batch(db, framed, codec=_codec(apicurio_registry, registries))
    assert outcome.poison == [] and outcome.applied + outcome.stale == len(events)


def _variant(raw: dict[str, Any], change: str) -> dict[str, Any]:
    schema = copy.deepcopy(raw)
    fields = schema["fields"]
    if change == "optional field":
        fields.append({"name": "ward_note", "type": ["null", "string"], "default": None})
    elif change == "required field":
        fields.append({"name": "ward_note", "type": "string"})
    elif change == "type change":
        next(f for f in fields if f["name"] == "origin_node")["type"] = "long"
    elif change == "removed field without default":
        schema["fields"] = [f for f in fields if f["name"] != "origin_node"]
    return schema


@pytest.mark.parametrize("change, compatible", [
    ("optional field", True), ("required field", False), ("type change", False),
    ("removed field without default", False)])
def test_the_registry_and_our_check_agree_on_compatibility(
        apicurio_registry: str, change: str, compatible: bool) -> None:
    subject = f"compatibility-{change.replace(' ', '-')}"
    latest = CATALOGUE.latest("task_event").raw
    variant = _variant(latest, change)
    with SchemaRegistryClient({"url": apicurio_registry}) as client:
        client.set_compatibility(subject_name=subject, level="FULL")
        for version in CATALOGUE.versions("task_event"):  # the released history is accepted
            client.register_schema(subject, Schema(version.schema_str, "AVRO"))
        theirs = client.test_compatibility(subject, Schema(json.dumps(variant), "AVRO"))
    assert check_pair(CATALOGUE.versions("task_event")[0].raw, latest) == []
    ours = check_pair(latest, variant) == []
    assert (ours, theirs) == (compatible, compatible)
