"""Migration files: naming, pairing, and the repository's own set."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.db.errors import MigrationFileError
from streams.db.migrate import default_migrations_dir, load_migrations


def _write(folder: Path, *names: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_text("SELECT 1;")
    return folder


def test_the_repository_migrations_load_in_order() -> None:
    migrations = load_migrations(default_migrations_dir())
    versions = [m.version for m in migrations]
    assert versions == sorted(versions) and versions[0] == 1
    assert all(m.up_sql.strip() and m.down_sql.strip() for m in migrations)


@pytest.mark.parametrize(("names", "message"), [
    (["0001_a.up.sql"], "needs both"),
    (["0001_a.up.sql", "0001_b.down.sql"], "differ in name"),
    (["1_a.up.sql"], "not NNNN_name"),
])
def test_malformed_folders_are_refused(tmp_path: Path, names: list[str], message: str) -> None:
    with pytest.raises(MigrationFileError, match=message):
        load_migrations(_write(tmp_path / "m", *names))


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationFileError, match="not found"):
        load_migrations(tmp_path / "nope")
