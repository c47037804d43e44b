"""streams.registry: each aggregate's entry has everything the layers look up by it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.config import KafkaSettings, Settings
from streams.contracts import SchemaCatalogue
from streams.contracts.models import MODEL_VERSIONS
from streams.registry import AGGREGATES, Aggregate, by_schema, by_type
from streams.sdk import topic_for
from streams.sink.aggregates import SPECS
from streams.topology import input_topics, project_topics, state_topic

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = "\n".join(p.read_text() for p in sorted((ROOT / "migrations").glob("*.up.sql")))

ENTRIES = pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda a: a.aggregate_type)


@ENTRIES
def test_an_entry_has_its_schema_model_setting_table_and_merge_spec(
        aggregate: Aggregate) -> None:
    assert SchemaCatalogue().versions(aggregate.schema_name)
    assert aggregate.schema_name in MODEL_VERSIONS
    assert (ROOT / "schemas" / "state" / aggregate.aggregate_type).is_dir()
    assert aggregate.topic_setting in KafkaSettings.model_fields
    assert re.search(rf"CREATE TABLE {aggregate.table} \(", MIGRATIONS)
    spec = SPECS[aggregate.schema_name]
    assert (spec.aggregate_type, spec.table.table) == (aggregate.aggregate_type, aggregate.table)
    assert by_schema(aggregate.schema_name) is aggregate is by_type(aggregate.aggregate_type)


def test_names_are_unique_and_the_topics_follow_the_settings() -> None:
    for key in ("schema_name", "aggregate_type", "plural", "table"):
        assert len({getattr(a, key) for a in AGGREGATES}) == len(AGGREGATES), key
    settings = Settings(kafka=KafkaSettings(tasks_topic="a.tasks", handovers_topic="b.h",
                                            verifications_topic="c.v",
                                            state_topic_prefix="s"))
    assert input_topics(settings) == ["a.tasks", "b.h", "c.v"]
    assert [topic_for(settings, a.event) for a in AGGREGATES] == ["a.tasks", "b.h", "c.v"]
    assert [state_topic(settings, a.aggregate_type) for a in AGGREGATES] == [
        "s.tasks.v1", "s.handovers.v1", "s.verifications.v1"]
    names = {spec.name for spec in project_topics(settings)}
    assert names == {"a.tasks", "b.h", "c.v", "a.tasks.dlq", "b.h.dlq", "c.v.dlq",
                     "s.tasks.v1", "s.handovers.v1", "s.verifications.v1"}


def test_an_unknown_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        by_schema("patient_event")
    with pytest.raises(KeyError):
        by_type("patient")
