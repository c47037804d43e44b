"""Validate published states against their JSON Schemas (``schemas/state``)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema

from streams.contracts.catalogue import default_schemas_dir


@cache
def _validator(aggregate_type: str, version: int) -> jsonschema.Draft202012Validator:
    path = default_schemas_dir() / "state" / aggregate_type / f"v{version}.json"
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def assert_valid_state(state: dict[str, Any]) -> None:
    """Fail with every violation if *state* breaks its schema version's contract."""
    validator = _validator(str(state["aggregate_type"]), int(state["state_version"]))
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
              for e in validator.iter_errors(state)]
    assert not errors, f"{state['aggregate_type']} state breaks its schema: {errors[:5]}"
