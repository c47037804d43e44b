"""JSON Schemas of the state topics: ``schemas/state/<aggregate_type>/vN.json``.

A released version is frozen like an Avro one: ``schemas/state/released.json`` keeps the
SHA-256 of its canonical form (sorted keys, no whitespace, without ``title``,
``description``, ``$comment`` and ``examples``, which may be reworded). A new field, a
new enum symbol or any other change of what a document may hold is a new version.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "StateSchema",
    "load_state_schemas",
    "record_state_releases",
    "state_fingerprint",
    "state_problems",
]

_VERSION = re.compile(r"^v(\d+)\.json$")
_PROSE = frozenset({"title", "description", "$comment", "examples"})


@dataclass(frozen=True)
class StateSchema:
    """One version of one state topic's schema."""

    aggregate_type: str
    version: int
    path: Path
    raw: dict[str, Any] = field(repr=False)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items() if k not in _PROSE}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def state_fingerprint(raw: dict[str, Any]) -> str:
    """SHA-256 (hex) of the schema's canonical form."""
    text = json.dumps(_canonical(raw), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def load_state_schemas(folder: Path) -> dict[str, list[StateSchema]]:
    """Every state schema under *folder* (``schemas/state``), by aggregate type."""
    found: dict[str, list[StateSchema]] = {}
    if not folder.is_dir():
        return found
    for directory in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(directory.iterdir()):
            match = _VERSION.match(path.name)
            if match:
                found.setdefault(directory.name, []).append(StateSchema(
                    directory.name, int(match.group(1)), path, json.loads(path.read_text())))
    for versions in found.values():
        versions.sort(key=lambda s: s.version)
    return found


def _released(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / "released.json"
    return json.loads(path.read_text()) if path.exists() else {}


def state_problems(folder: Path) -> tuple[list[str], list[str], list[str]]:
    """(edited, missing, unreleased) state schema versions, as readable lines."""
    schemas = load_state_schemas(folder)
    edited, missing, unreleased = [], [], []
    for kind, frozen in _released(folder).items():
        known = {str(s.version): s for s in schemas.get(kind, [])}
        for number, fingerprint in frozen.items():
            schema = known.get(number)
            if schema is None:
                missing.append(f"state {kind} v{number} is released but its file is gone")
            elif state_fingerprint(schema.raw) != fingerprint:
                edited.append(f"state {kind} v{number} was edited after release: "
                              "add a new version instead")
    released = _released(folder)
    for kind, versions in schemas.items():
        unreleased += [f"state {kind} v{s.version}" for s in versions
                       if str(s.version) not in released.get(kind, {})]
    return edited, missing, unreleased


def record_state_releases(folder: Path) -> list[str]:
    """Mark every state schema version not yet released as released; return them."""
    released = _released(folder)
    added = []
    for kind, versions in load_state_schemas(folder).items():
        for schema in versions:
            if str(schema.version) not in released.setdefault(kind, {}):
                released[kind][str(schema.version)] = state_fingerprint(schema.raw)
                added.append(f"state {kind} v{schema.version}")
    if added:
        (folder / "released.json").write_text(json.dumps(released, indent=2, sort_keys=True)
                                              + "\n")
    return added
