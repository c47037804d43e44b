"""Released schema versions: frozen by fingerprint, and checked for compatibility."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from streams.contracts.catalogue import SchemaCatalogue
from streams.contracts.compatibility import check_pair
from streams.contracts.state_schemas import record_state_releases, state_problems

__all__ = ["CheckReport", "check_catalogue", "record_releases", "released_file"]


def released_file(catalogue: SchemaCatalogue) -> Path:
    """``schemas/released.json``: name → version → fingerprint of every released version."""
    return catalogue.folder / "released.json"


def _released(catalogue: SchemaCatalogue) -> dict[str, dict[str, str]]:
    path = released_file(catalogue)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(k): {str(v): str(f) for v, f in versions.items()} for k, versions in data.items()}


@dataclass
class CheckReport:
    """Problems found; empty lists mean the schemas are fine."""

    edited: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    incompatible: list[str] = field(default_factory=list)
    unreleased: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.edited or self.missing or self.incompatible)


def check_catalogue(catalogue: SchemaCatalogue) -> CheckReport:
    """Check released versions are unchanged and every version is backward and forward
    compatible with every earlier one of the same schema (full transitive compatibility);
    released state-topic JSON Schemas are checked unchanged too (``state_schemas``)."""
    report = CheckReport()
    released = _released(catalogue)
    for name, frozen in released.items():
        known = {str(v.version): v for v in catalogue.versions(name)} \
            if name in catalogue.names else {}
        for number, fingerprint in frozen.items():
            version = known.get(number)
            if version is None:
                report.missing.append(f"{name} v{number} is released but its file is gone")
            elif version.fingerprint.hex() != fingerprint:
                report.edited.append(f"{name} v{number} was edited after release "
                                     "(fingerprint differs): add a new version instead")
    for name in catalogue.names:
        versions = catalogue.versions(name)
        for v in versions:
            if str(v.version) not in released.get(name, {}):
                report.unreleased.append(f"{name} v{v.version}")
        for i, new in enumerate(versions):
            for old in versions[:i]:
                for problem in check_pair(old.raw, new.raw):
                    report.incompatible.append(f"{name} v{old.version} → v{new.version}: "
                                               f"{problem}")
    edited, missing, unreleased = state_problems(catalogue.folder / "state")
    report.edited += edited
    report.missing += missing
    report.unreleased += unreleased
    return report


def record_releases(catalogue: SchemaCatalogue) -> list[str]:
    """Mark every version not yet released as released; return them."""
    released = _released(catalogue)
    added = []
    for name in catalogue.names:
        for v in catalogue.versions(name):
            if str(v.version) not in released.setdefault(name, {}):
                released[name][str(v.version)] = v.fingerprint.hex()
                added.append(f"{name} v{v.version}")
    released_file(catalogue).write_text(json.dumps(released, indent=2, sort_keys=True) + "\n")
    return added + record_state_releases(catalogue.folder / "state")
