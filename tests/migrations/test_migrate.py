"""The migration runner against real PostgreSQL."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from streams.contracts.identity import identity_id
from streams.db.errors import MigrationChecksumError
from streams.db.migrate import MigrationRunner, default_migrations_dir
from tests.migrations import rows

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
ORDER BY 1, 4, 3
"""
# Everything else a migration can leave behind: functions, types, triggers, policies,
# index and view definitions.
_OBJECTS = """
SELECT 'function', p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid))
FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS (
    SELECT 1 FROM pg_depend d  -- an extension's own (TimescaleDB puts first() in public)
    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'type', t.typname::text, t.typtype::text
FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r', 'm')
AND NOT EXISTS (SELECT 1 FROM pg_depend d
                WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT 'trigger', tgrelid::regclass::text || '.' || tgname, pg_get_triggerdef(oid)
FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text <> ALL(%s)
AND tgrelid IN (SELECT oid FROM pg_class  -- the project's tables, not an extension's catalog
                WHERE relnamespace = 'public'::regnamespace)
UNION ALL
SELECT 'policy', polrelid::regclass::text || '.' || polname,
       coalesce(pg_get_expr(polqual, polrelid), '')
FROM pg_policy
UNION ALL
SELECT 'index', indexname::text, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename <> ALL(%s)
UNION ALL
SELECT 'view', viewname::text, md5(definition) FROM pg_views WHERE schemaname = 'public'
UNION ALL
SELECT 'matview', matviewname::text, md5(definition) FROM pg_matviews
WHERE schemaname = 'public'
ORDER BY 1, 2, 3
"""


# TimescaleDB's continuous aggregates: their view's text names the materialization
# hypertable's id, which a re-creation changes; what was asked for is their query and
# settings.
_CONTINUOUS_AGGREGATES = """
SELECT 'cagg', view_name::text, md5(view_definition) || ' ' || materialized_only::text
FROM timescaledb_information.continuous_aggregates WHERE view_schema = 'public'
UNION ALL
SELECT 'job', coalesce(hypertable_name::text, ''), proc_name::text || ' '
    || (config - 'mat_hypertable_id' - 'hypertable_id')::text
    || ' ' || schedule_interval::text
FROM timescaledb_information.jobs WHERE hypertable_schema = 'public'
ORDER BY 1, 2, 3
"""


def _catalog(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        ledger = list(_LEDGER)
        objects = conn.execute(_OBJECTS, (ledger, ledger)).fetchall()
        if conn.execute("SELECT to_regclass('timescaledb_information.continuous_aggregates')"
                        ).fetchone() != (None,):
            caggs = conn.execute(_CONTINUOUS_AGGREGATES).fetchall()
            names = {row[1] for row in caggs if row[0] == "cagg"}
            objects = [o for o in objects if not (o[0] == "view" and o[1] in names)] + caggs
        return (conn.execute(_RELATIONS, (ledger,)).fetchall()
                + conn.execute(_CONSTRAINTS, (ledger,)).fetchall() + objects)


def test_up_down_up_gives_the_same_catalog(database_factory) -> None:
    url = database_factory(migrated=False)
    runner = MigrationRunner(url)
    applied = runner.up()
    assert [m.version for m in applied] == [m.version for m in runner.migrations]
    after_up = _catalog(url)
    names = {row[1] if row[0] in {"function", "type", "view", "matview"} else row[0]
             for row in after_up}
    assert {"tasks", "patients", "audit_logs", "processed_events", "conflicts",
            "task_status", "audit_metrics_hourly", "audit_logs_recent"} <= names
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


def test_0012_moves_existing_identities_to_their_canonical_ids(database_factory) -> None:
    """Rows written before 0012 under producers' ids move to the ids of their natural keys
    (foreign keys follow); the old ids become aliases, so older audit rows still resolve."""
    url = database_factory(migrated=False)
    runner = MigrationRunner(url)
    runner.up(to=11)
    with psycopg.connect(url, autocommit=True) as conn:
        dep, nurse = rows.department(conn, "ICU"), rows.user(conn)
        pat = rows.patient(conn, mrn="MRN7654321")
        task = rows.task(conn, dep, nurse, pat)
        username = conn.execute("SELECT username FROM users").fetchone()
    assert username is not None
    runner.up()
    canonical = {"department": identity_id("department", "ICU"),
                 "user": identity_id("user", str(username[0])),
                 "patient": identity_id("patient", "MRN7654321")}
    with psycopg.connect(url) as conn:
        refs = conn.execute("SELECT department_id, created_by, patient_id FROM tasks "
                            "WHERE id = %s", (task,)).fetchone()
        aliases = set(conn.execute("SELECT kind, alias_id, canonical_id "
                                   "FROM identity_aliases").fetchall())
        in_sql = conn.execute("SELECT emr_identity_id('user', %s)", (username[0],)).fetchone()
    assert refs == (canonical["department"], canonical["user"], canonical["patient"])
    assert aliases == {("department", dep, canonical["department"]),
                       ("user", nurse, canonical["user"]),
                       ("patient", pat, canonical["patient"])}
    assert in_sql == (canonical["user"],)  # SQL and Python derive the same id
