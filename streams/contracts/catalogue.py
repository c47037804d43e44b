"""The schema catalogue: every ``schemas/<name>/vN.avsc``, parsed once, by name and fingerprint.

The ``.avsc`` files are the contract with adapters and consumers: released versions are
never edited (``emr-streams schemas check`` compares their fingerprints with
``schemas/released.json``) and a new version must stay backward and forward compatible.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from streams.contracts.errors import SchemaCatalogueError, UnknownSchemaError

__all__ = [
    "SchemaCatalogue",
    "SchemaVersion",
    "crc64_fingerprint",
    "default_schemas_dir",
    "parse_record_schema",
    "phi_paths",
]

_VERSION = re.compile(r"^v(\d+)\.avsc$")


def default_schemas_dir() -> Path:
    """The ``schemas/`` folder of this source tree."""
    return Path(__file__).resolve().parents[2] / "schemas"


def parse_record_schema(raw: Any) -> dict[str, Any]:
    parsed = parse_schema(raw)
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise SchemaCatalogueError("an event schema must be a record")
    return parsed


def crc64_fingerprint(parsed: dict[str, Any]) -> bytes:
    """The Avro CRC-64-AVRO fingerprint of a schema, as the 8 little-endian bytes of the spec."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


def phi_paths(raw: Any, prefix: str = "") -> set[str]:
    """Dotted paths of the fields marked ``"phi": true`` (record names where types nest)."""
    found: set[str] = set()
    if isinstance(raw, list):
        for branch in raw:
            found |= phi_paths(branch, prefix)
    elif isinstance(raw, dict):
        if raw.get("type") == "record":
            for item in raw.get("fields", []):
                path = f"{prefix}{raw['name']}.{item['name']}"
                if item.get("phi") is True:
                    found.add(path)
                found |= phi_paths(item["type"], prefix)
        elif raw.get("type") == "array":
            found |= phi_paths(raw["items"], prefix)
        elif raw.get("type") == "map":
            found |= phi_paths(raw["values"], prefix)
    return found


@dataclass(frozen=True)
class SchemaVersion:
    """One released (or new) version of a schema."""

    name: str
    version: int
    path: Path
    raw: dict[str, Any] = field(repr=False)
    parsed: dict[str, Any] = field(repr=False)
    fingerprint: bytes

    @property
    def full_name(self) -> str:
        return f"{self.raw.get('namespace', '')}.{self.raw['name']}".lstrip(".")

    @property
    def schema_str(self) -> str:
        """The schema as JSON text (what a schema registry stores)."""
        return json.dumps(self.raw, separators=(",", ":"))


class SchemaCatalogue:
    """Every schema version in a folder, indexed by name and by fingerprint."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_schemas_dir()
        self._by_name: dict[str, list[SchemaVersion]] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        if not self.folder.is_dir():
            raise SchemaCatalogueError(f"schemas folder {self.folder} not found; set "
                                       "EMR_STREAMS_KAFKA_SCHEMAS_DIR")
        for directory in sorted(p for p in self.folder.iterdir() if p.is_dir()):
            versions = [self._load(directory.name, path) for path in sorted(directory.iterdir())
                        if _VERSION.match(path.name)]
            versions.sort(key=lambda v: v.version)
            if not versions:
                continue
            numbers = [v.version for v in versions]
            if numbers != list(range(1, len(numbers) + 1)):
                raise SchemaCatalogueError(f"{directory.name}: versions {numbers} are not "
                                           "v1, v2, … without gaps")
            self._by_name[directory.name] = versions
            for v in versions:
                self._by_fingerprint.setdefault(v.fingerprint, v)

    @staticmethod
    def _load(name: str, path: Path) -> SchemaVersion:
        match = _VERSION.match(path.name)
        assert match is not None
        try:
            raw = json.loads(path.read_text())
            parsed = parse_record_schema(raw)
        except (ValueError, TypeError, KeyError, SchemaCatalogueError) as exc:
            raise SchemaCatalogueError(f"{path}: not a valid Avro schema: {exc}") from exc
        return SchemaVersion(name, int(match[1]), path, raw, parsed, crc64_fingerprint(parsed))

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def versions(self, name: str) -> list[SchemaVersion]:
        """Every version of *name*, oldest first."""
        try:
            return list(self._by_name[name])
        except KeyError:
            raise UnknownSchemaError(f"no schema named {name!r} in {self.folder}") from None

    def latest(self, name: str) -> SchemaVersion:
        """The newest version of *name*: what this code writes and reads into."""
        return self.versions(name)[-1]

    def by_fingerprint(self, value: bytes) -> SchemaVersion:
        """The version whose CRC-64-AVRO fingerprint is *value*."""
        try:
            return self._by_fingerprint[value]
        except KeyError:
            raise UnknownSchemaError(
                # No folder path: this reason goes into dead-letter headers and logs.
                f"unknown schema fingerprint {value.hex()} (not in the processor's schema "
                "catalogue)") from None

    def by_full_name(self, full_name: str) -> str:
        """The catalogue name (folder) whose latest version is the record *full_name*."""
        for name, versions in self._by_name.items():
            if versions[-1].full_name == full_name:
                return name
        raise UnknownSchemaError(f"no schema for record {full_name}")
