"""``emr-streams schemas check``: released versions frozen, new versions compatible."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from streams.contracts.catalogue import default_schemas_dir


def _check(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli.main", "schemas", *args,
                           "--schemas-dir", str(folder)], capture_output=True, text=True,
                          timeout=60)


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(default_schemas_dir(), folder)
    return folder


def _add_version(folder: Path, mutate: object) -> None:
    raw = json.loads((folder / "task_event" / "v2.avsc").read_text())
    mutate(raw)  # type: ignore[operator]
    (folder / "task_event" / "v3.avsc").write_text(json.dumps(raw))


def test_the_repository_schemas_pass() -> None:
    result = _check(default_schemas_dir(), "check")
    assert result.returncode == 0, result.stderr
    assert "schemas ok" in result.stdout


def test_a_compatible_new_version_passes_and_is_reported_unreleased(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _add_version(folder, lambda raw: raw["fields"].insert(
        -1, {"name": "tenant", "type": ["null", "string"], "default": None}))
    result = _check(folder, "check")
    assert result.returncode == 0, result.stderr
    assert "not released yet: task_event v3" in result.stdout
    released = _check(folder, "release")
    assert released.returncode == 0 and "released task_event v3" in released.stdout
    assert "v3" not in _check(folder, "check").stdout


def test_an_incompatible_version_is_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    # A new required field: v3 cannot read v2 data (backward incompatible).
    _add_version(folder, lambda raw: raw["fields"].insert(
        -1, {"name": "tenant", "type": "string"}))
    result = _check(folder, "check")
    assert result.returncode == 1
    assert "task_event v2 → v3: backward" in result.stderr
    assert "tenant" in result.stderr
    assert _check(folder, "release").returncode == 1


def test_an_edited_released_version_is_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "task_event" / "v1.avsc"
    raw = json.loads(path.read_text())
    raw["fields"][0]["doc"] = "docs may change: the fingerprint ignores them"
    path.write_text(json.dumps(raw))
    assert _check(folder, "check").returncode == 0
    raw["fields"].insert(-1, {"name": "extra", "type": ["null", "int"], "default": None})
    path.write_text(json.dumps(raw))
    result = _check(folder, "check")
    assert result.returncode == 1
    assert "task_event v1 was edited after release" in result.stderr


def test_an_edited_released_state_schema_is_rejected(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "state" / "task" / "v1.json"
    raw = json.loads(path.read_text())
    raw["properties"]["title"]["description"] = "prose may change"
    path.write_text(json.dumps(raw))
    assert _check(folder, "check").returncode == 0
    raw["properties"]["status"]["enum"].append("ON_HOLD")  # a new symbol: a new version
    path.write_text(json.dumps(raw))
    result = _check(folder, "check")
    assert result.returncode == 1
    assert "state task v1 was edited after release" in result.stderr
    path.unlink()
    result = _check(folder, "check")
    assert result.returncode == 1 and "state task v1 is released but its file is gone" in (
        result.stderr)
