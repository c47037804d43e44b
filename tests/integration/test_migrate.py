"""The migration runner against real PostgreSQL."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from streams.db.errors import MigrationChecksumError
from streams.db.migrate import MigrationRunner, default_migrations_dir

pytestmark = pytest.mark.integration

_LEDGER = ("emr_streams_migrations", "emr_streams_migrations_pkey")
_RELATIONS = """
SELECT c.relname::text, c.relkind::text, a.attname::text,
       format_type(a.atttypid, a.atttypmod), a.attnotnull::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relname <> ALL(%s)
ORDER BY 1, 3
"""
_CONSTRAINTS = """
SELECT conname::text, contype::text, pg_get_constraintdef(oid), conrelid::regclass::text
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> ALL(%s)
ORDER BY 1
"""


def _catalog(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return (conn.execute(_RELATIONS, (list(_LEDGER),)).fetchall()
                + conn.execute(_CONSTRAINTS, (list(_LEDGER),)).fetchall())


def test_up_down_up_gives_the_same_catalog(database_factory) -> None:
    url = database_factory(migrated=False)
    runner = MigrationRunner(url)
    applied = runner.up()
    assert [m.version for m in applied] == [m.version for m in runner.migrations]
    after_up = _catalog(url)
    assert {row[0] for row in after_up} >= {"tasks", "processed_events"}
    runner.down(to=0)
    assert _catalog(url) == []
    runner.up()
    assert _catalog(url) == after_up
    done, pending = runner.status()
    assert pending == [] and [a.version for a in done] == [m.version for m in runner.migrations]


def test_an_edited_applied_migration_is_refused(database_factory, tmp_path: Path) -> None:
    url = database_factory(migrated=False)
    folder = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), folder)
    MigrationRunner(url, folder=folder).up()
    first = sorted(folder.glob("*.up.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationChecksumError, match="edited after it was applied"):
        MigrationRunner(url, folder=folder).up()


def test_concurrent_runs_apply_each_migration_once(database_factory) -> None:
    url = database_factory(migrated=False)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(len(MigrationRunner(url).up()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [0, 0, len(MigrationRunner(url).migrations)]
