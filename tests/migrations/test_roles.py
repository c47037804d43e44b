"""The least-privilege roles of 0008_roles on real PostgreSQL: each boundary, as a login user.

Each group role gets a LOGIN member of its own (a unique name: roles are server-wide and
other sessions migrate on the same server); the tests connect as that member.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import LiteralString

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from streams.audit import verify_chains
from streams.contracts.identity import identity_id
from streams.contracts.models import AnyEvent, DepartmentSnapshot, TaskEvent
from streams.db.maintenance import run_maintenance
from streams.db.migrate import MigrationRunner, default_migrations_dir
from streams.kafka.producer import EventProducer
from streams.kafka.reader import RangeReader
from streams.phi.fields import phi_field_paths
from streams.sink import apply_batch
from streams.sink.aggregates import SPECS
from streams.sink.outbox import relay_once
from tests.fixtures.database import DatabaseFactory, with_database
from tests.fixtures.kafka import TopicFactory
from tests.fixtures.services import Services
from tests.integration.helpers import CODEC, records, synthetic, table_state
from tests.unit.events_fixtures import ENVELOPE, ICU, TASK, TASK_PAYLOADS, every_event, uid

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[tuple[object, ...]]
Login = Callable[[str, str], str]

GROUPS = ("emr_processor", "emr_reader", "emr_auditor")
CARDIO = DepartmentSnapshot(id=uid(9001), code="CARDIO_EAST", name="Cardiology East")
ONCO = DepartmentSnapshot(id=uid(9002), code="ONCO_EAST", name="Oncology East")
#: The messages of a privilege or ownership check (the audit triggers say "append-only").
REFUSED = "permission denied|must be owner"


def _department_tasks() -> list[AnyEvent]:
    """New tasks in three departments, built from the shared event fixtures."""
    return [TaskEvent(event_id=uid(9100 + i), aggregate_id=uid(9200 + i),
                      task=TASK.model_copy(update={"department": dep}),
                      payload=TASK_PAYLOADS[0], **ENVELOPE)
            for i, dep in enumerate([CARDIO, ONCO, CARDIO, ONCO, ICU])]


# Every aggregate and event type, tasks of several departments, and concurrent edits (so
# conflicts are written too). Built once: both databases of a comparison get the same bytes.
EVENTS: list[AnyEvent] = [*every_event(), *_department_tasks(),
                          *synthetic(80, seed=5, concurrent_rate=0.3)]
RECORDS = records(EVENTS, topic="emr.tasks.v1")


def _refused(conn: Conn, statement: LiteralString, params: tuple[object, ...] = ()) -> None:
    """*statement* is refused for lack of a privilege or ownership (not by a trigger such
    as the audit trail's append-only guard), and undone whatever happens."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=REFUSED), \
            conn.transaction(force_rollback=True):
        conn.execute(statement, params)


def _one(conn: Conn, query: LiteralString, params: tuple[object, ...] = ()) -> object:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _create_login(admin_url: str, group: str) -> str:
    name = f"emr_t_{group.removeprefix('emr_')}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
            sql.Identifier(name), sql.Identifier(group)))
    return name


def _drop_roles(admin_url: str, names: list[str]) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def login(admin_url: str) -> Iterator[Login]:
    """``login(database_url, group)``: the URL of a new LOGIN member of *group*."""
    made: list[str] = []

    def make(url: str, group: str) -> str:
        made.append(_create_login(admin_url, group))
        return make_conninfo(url, user=made[-1])

    yield make
    _drop_roles(admin_url, made)


@pytest.fixture(scope="module")
def shared(admin_url: str, template_database: str) -> Iterator[dict[str, str]]:
    """One migrated database holding EVENTS (applied by the owner), for the refusal tests:
    the owner's URL and one login member per group. Refused statements change nothing."""
    name = f"emr_test_roles_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template_database)))
    url = with_database(admin_url, name)
    members = {group: _create_login(admin_url, group) for group in GROUPS}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            outcome = apply_batch(conn, RECORDS, codec=CODEC)
            assert outcome.poison == [] and outcome.concurrent > 0
            conn.execute("SELECT refresh_audit_aggregates()")
        yield {"owner": url, **{g: make_conninfo(url, user=m) for g, m in members.items()}}
    finally:
        _drop_roles(admin_url, list(members.values()))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture
def as_role(shared: dict[str, str]) -> Iterator[Callable[[str], Conn]]:
    """``as_role(group)``: an autocommit connection to the shared database as its member."""
    opened: list[Conn] = []

    def connect(group: str) -> Conn:
        opened.append(psycopg.connect(shared[group], autocommit=True))
        return opened[-1]

    yield connect
    for conn in opened:
        conn.close()


# The roles themselves -----------------------------------------------------------------

def test_group_roles_cannot_log_in_or_bypass_anything(db: Conn) -> None:
    rows = db.execute("SELECT rolname, rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, "
                      "rolcreatedb FROM pg_roles WHERE rolname = ANY(%s) ORDER BY 1",
                      (list(GROUPS),)).fetchall()
    assert rows == [(g, False, False, False, False, False) for g in sorted(GROUPS)]


def test_concurrent_migrations_create_each_role_once(admin_url: str) -> None:
    """The role-creating block of 0008, run by four transactions at once, succeeds in all
    four: the losers of the race see unique_violation and carry on. (Run with other role
    names: the real ones exist already and other sessions use them.)"""
    up = (default_migrations_dir() / "0008_roles.up.sql").read_text()
    block = up[up.index("DO $roles$"):up.index("$roles$;") + len("$roles$;")]
    names = [f"emr_t_race_{uuid.uuid4().hex[:8]}_{g}" for g in GROUPS]
    for group, name in zip(GROUPS, names, strict=True):
        block = block.replace(f"'{group}'", f"'{name}'")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            with psycopg.connect(admin_url) as conn:  # one transaction, like a migration
                barrier.wait(timeout=30)
                conn.execute(block.encode())
                conn.execute("SELECT pg_sleep(0.3)")  # hold the new roles uncommitted
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with psycopg.connect(admin_url) as conn:
            assert _one(conn, "SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s) "
                              "AND NOT rolcanlogin", (names,)) == 3
    finally:
        _drop_roles(admin_url, names)


def test_a_role_with_bypassrls_is_refused(admin_url: str, database_factory: DatabaseFactory
                                          ) -> None:
    up = (default_migrations_dir() / "0008_roles.up.sql").read_text()
    block = up[up.index("DO $roles$"):up.index("$roles$;") + len("$roles$;")]
    name = f"emr_t_bypass_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN BYPASSRLS").format(sql.Identifier(name)))
    try:
        with psycopg.connect(database_factory(migrated=False)) as conn, \
                pytest.raises(psycopg.errors.InvalidGrantOperation, match="BYPASSRLS"):
            conn.execute(block.replace("'emr_reader'", f"'{name}'").encode())
    finally:
        _drop_roles(admin_url, [name])


def test_down_revokes_everything_in_this_database_and_up_grants_it_again(
        database_url: str, login: Login) -> None:
    MigrationRunner(database_url).down(to=7)
    with psycopg.connect(database_url) as conn:
        # No privilege, policy or other dependency on the roles is left in this database.
        assert _one(conn, "SELECT count(*) FROM pg_shdepend d JOIN pg_roles r "
                          "ON d.refclassid = 'pg_authid'::regclass AND d.refobjid = r.oid "
                          "WHERE d.dbid = (SELECT oid FROM pg_database "
                          "WHERE datname = current_database()) AND r.rolname = ANY(%s)",
                    (list(GROUPS),)) == 0
        assert _one(conn, "SELECT count(*) FROM pg_policy WHERE polname = "
                          "'tasks_processor_all'") == 0
        # The roles stay: they are the whole server's.
        assert _one(conn, "SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)",
                    (list(GROUPS),)) == 3
    with psycopg.connect(login(database_url, "emr_processor"), autocommit=True) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        apply_batch(conn, RECORDS[:5], codec=CODEC)
    MigrationRunner(database_url).up()
    with psycopg.connect(login(database_url, "emr_processor"), autocommit=True) as conn:
        assert apply_batch(conn, RECORDS[:5], codec=CODEC).poison == []


# emr_processor ------------------------------------------------------------------------

def test_processor_applies_a_batch_as_the_owner_would(database_factory: DatabaseFactory,
                                                      login: Login, services: Services,
                                                      topic_factory: TopicFactory) -> None:
    as_owner, as_processor = database_factory(), database_factory()
    state_topic = topic_factory(partitions=1)
    producer = EventProducer({"bootstrap.servers": services.bootstrap_servers})
    with psycopg.connect(as_owner, autocommit=True) as conn:
        expected = apply_batch(conn, RECORDS, codec=CODEC)
    with psycopg.connect(login(as_processor, "emr_processor"), autocommit=True) as conn:
        # Without any department setting: the processor writes for every department.
        outcome = apply_batch(conn, RECORDS, codec=CODEC)
        again = apply_batch(conn, RECORDS, codec=CODEC)
        departments = _one(conn, "SELECT count(DISTINCT department_id) FROM tasks")
        pending = _one(conn, "SELECT count(*) FROM state_outbox")
        relayed = 0
        while (published := relay_once(conn, producer, lambda _: state_topic)) > 0:
            relayed += published
        assert _one(conn, "SELECT count(*) FROM state_outbox") == 0
    assert (outcome.applied, outcome.stale, outcome.concurrent, outcome.poison) == (
        expected.applied, expected.stale, expected.concurrent, [])
    assert outcome.concurrent > 0
    assert again.duplicates == len(RECORDS)
    assert isinstance(pending, int) and relayed == pending > 0
    with RangeReader({"bootstrap.servers": services.bootstrap_servers}, state_topic) as reader:
        assert reader.watermarks(0) == (0, relayed)
    assert isinstance(departments, int) and departments >= 3
    assert {identity_id("department", d.code) for d in (ICU, CARDIO, ONCO)} <= {
        r["id"] for r in table_state(as_processor)["departments"]}
    assert table_state(as_processor) == table_state(as_owner)
    with psycopg.connect(as_processor) as mine, psycopg.connect(as_owner) as theirs:
        for table in ("processed_events", "audit_logs", "conflicts"):
            count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            assert mine.execute(count).fetchone() == theirs.execute(count).fetchone(), table


@pytest.mark.parametrize("statement", [
    "DELETE FROM tasks",
    "DELETE FROM handovers",
    "DELETE FROM processed_events",
    "DELETE FROM patients",
    "DELETE FROM conflicts",
    "UPDATE patients SET is_active = false",
    "UPDATE dlq_redrives SET redriven_by = 'someone-else'",
    "DELETE FROM dlq_redrives",
    "UPDATE departments SET code = 'X'",
    "UPDATE users SET username = 'x'",
    "UPDATE patients SET mrn = 'MRN000000'",
    "UPDATE conflicts SET reviewed_at = now(), reviewed_by = gen_random_uuid()",
    "SELECT encrypted_data FROM patients",
    "SELECT first_name, last_name, date_of_birth FROM patients",
    "SELECT local_state, remote_state FROM conflicts",
    "TRUNCATE tasks",
    "TRUNCATE processed_events",
    "TRUNCATE state_outbox",
    "ALTER TABLE tasks ADD COLUMN note text",
    "ALTER TABLE tasks DISABLE ROW LEVEL SECURITY",
    "DROP TABLE conflicts",
    "CREATE TABLE public.scratch (id int)",
    "CREATE INDEX idx_scratch ON tasks (title)",
    "DROP POLICY tasks_department_isolation ON tasks",
    "INSERT INTO emr_streams_migrations (version, name, checksum) VALUES (99, 'x', 'x')",
    "UPDATE audit_logs SET action = 'tampered'",
    "DELETE FROM audit_logs",
    "TRUNCATE audit_logs",
    "SELECT count(*) FROM audit_logs",
    "SELECT audit_logs_drop_expired(INTERVAL '0 days')",
    "SELECT audit_logs_ensure_partitions(24, 0)",
    "SELECT refresh_audit_aggregates()",
])
def test_processor_is_refused(as_role: Callable[[str], Conn], statement: LiteralString) -> None:
    _refused(as_role("emr_processor"), statement)


def _audit_children(conn: Conn) -> list[str]:
    """Every native partition or TimescaleDB chunk of audit_logs, and (TimescaleDB) every
    compressed chunk, schema-qualified."""
    return [str(r[0]) for r in conn.execute(
        "SELECT i.inhrelid::regclass::text FROM pg_inherits i "
        "WHERE i.inhparent = 'audit_logs'::regclass "
        "OR i.inhparent IN (SELECT format('%I.%I', h.schema_name, h.table_name)::regclass "
        "  FROM _timescaledb_catalog.hypertable h JOIN _timescaledb_catalog.hypertable a "
        "  ON h.id = a.compressed_hypertable_id WHERE a.table_name = 'audit_logs') "
        "ORDER BY 1" if _timescaledb(conn) else
        "SELECT i.inhrelid::regclass::text FROM pg_inherits i "
        "WHERE i.inhparent = 'audit_logs'::regclass ORDER BY 1")]


def _timescaledb(conn: Conn) -> bool:
    return _one(conn, "SELECT audit_backend()") == "timescaledb"


def test_no_audit_partition_or_chunk_can_be_touched_directly(
        shared: dict[str, str], as_role: Callable[[str], Conn]) -> None:
    """After maintenance, the processor can neither write nor truncate a partition, chunk
    or compressed chunk of audit_logs, and the owner cannot truncate one."""
    with psycopg.connect(shared["owner"], autocommit=True) as owner:
        run_maintenance(owner)
        if _timescaledb(owner):
            owner.execute("SELECT compress_chunk(c, if_not_compressed => true) "
                          "FROM show_chunks('audit_logs') c")
            run_maintenance(owner)
        children = _audit_children(owner)
        assert children
        for child in children:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), \
                    owner.transaction(force_rollback=True):
                owner.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(child)))
    conn = as_role("emr_processor")
    for child in children:
        for template in ("DELETE FROM {}", "TRUNCATE {}", "INSERT INTO {} DEFAULT VALUES"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=REFUSED), \
                    conn.transaction(force_rollback=True):
                conn.execute(sql.SQL(template).format(sql.SQL(child)))


def test_maintenance_needs_the_owner(shared: dict[str, str],
                                     as_role: Callable[[str], Conn]) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=REFUSED):
        run_maintenance(as_role("emr_processor"))
    with psycopg.connect(shared["owner"], autocommit=True) as conn:
        assert run_maintenance(conn).backend in {"native", "timescaledb"}


# emr_reader ---------------------------------------------------------------------------

def test_reader_sees_only_the_tasks_of_its_department(
        shared: dict[str, str], as_role: Callable[[str], Conn]) -> None:
    reader = as_role("emr_reader")
    assert _one(reader, "SELECT count(*) FROM tasks") == 0  # no setting: no rows
    with psycopg.connect(shared["owner"]) as owner:
        per_department: dict[object, object] = dict(owner.execute(
            "SELECT department_id, count(*) FROM tasks GROUP BY 1").fetchall())
    assert len(per_department) >= 3
    for department, expected in per_department.items():
        reader.execute("SELECT set_config('emr_streams.department_id', %s, false)",
                       (str(department),))
        assert reader.execute("SELECT DISTINCT department_id FROM tasks").fetchall() == [
            (department,)]
        assert _one(reader, "SELECT count(*) FROM tasks") == expected
        # The summary view is security_invoker: the same confinement inside it.
        assert _one(reader, "SELECT sum(total_tasks) FROM patient_task_summary") == expected


def test_reader_reads_patients_of_its_department_only_and_without_phi(
        shared: dict[str, str], as_role: Callable[[str], Conn]) -> None:
    reader = as_role("emr_reader")
    assert _one(reader, "SELECT count(*) FROM patients") == 0  # no setting: none
    for column in ("mrn", "emr_id", "encrypted_data", "first_name", "last_name",
                   "date_of_birth", "*"):
        _refused(reader, f"SELECT {column} FROM patients")  # type: ignore[arg-type]
    _refused(reader, "SELECT description FROM tasks")
    with psycopg.connect(shared["owner"]) as owner:
        per_department: dict[object, object] = dict(owner.execute(
            "SELECT department_id, count(DISTINCT patient_id) FROM tasks GROUP BY 1"
        ).fetchall())
        patients = _one(owner, "SELECT count(*) FROM patients")
    for department, expected in per_department.items():
        reader.execute("SELECT set_config('emr_streams.department_id', %s, false)",
                       (str(department),))
        assert _one(reader, "SELECT count(*) FROM patients") == expected
        assert _one(reader, "SELECT count(*) FROM patient_task_summary") == expected
    assert isinstance(patients, int) and patients > max(per_department.values())  # type: ignore[call-overload]


def _phi_columns() -> set[tuple[str, str]]:
    """(relation, column) of every stored PHI value: the schemas' phi marks, where the
    processor stores them (patients' identifiers included), and what copies them."""
    paths = phi_field_paths()
    patient = {p.split(".")[1] for p in paths if p.startswith("PatientSnapshot.")}
    found = {("patients", c) for c in patient | {"encrypted_data", "emr_id"}}
    for spec in SPECS.values():
        found |= {(spec.table.table, c) for c in spec.phi_values}
    found |= {("conflicts", c) for c in ("local_state", "remote_state", "resolved_state")}
    return found | {("state_outbox", "state")}


def test_reader_can_read_no_phi_column_of_any_relation(shared: dict[str, str]) -> None:
    """Every column of every table, view and materialized view the reader can read is
    checked against the PHI columns; a view may not pass one on under its name."""
    with psycopg.connect(shared["owner"]) as owner:
        readable = owner.execute(
            "SELECT c.relname, a.attname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "AND NOT a.attisdropped WHERE c.relkind IN ('r', 'p', 'v', 'm') "
            "AND has_column_privilege('emr_reader', c.oid, a.attname, 'SELECT')").fetchall()
    phi = _phi_columns()
    phi_names = {column for _, column in phi}
    for relation, column, kind in readable:
        assert (relation, column) not in phi, (relation, column)
        if kind in ("v", "m"):
            assert column not in phi_names, (relation, column)
    assert ("tasks", "title", "r") in readable and len(readable) > 20  # it looked


@pytest.mark.parametrize("statement", [
    "INSERT INTO tasks (id, title, patient_id, created_by, department_id) "
    "SELECT gen_random_uuid(), 'x', patient_id, created_by, department_id FROM tasks",
    "UPDATE tasks SET title = 'x'",
    "DELETE FROM tasks",
    "INSERT INTO departments (id, code, name) VALUES (gen_random_uuid(), 'X', 'x')",
    "UPDATE users SET is_active = false",
    "INSERT INTO audit_logs (action, entity_type, source_system) VALUES ('x', 'x', 'x')",
    "INSERT INTO processed_events (event_id, event_type, topic, \"partition\", \"offset\") "
    "VALUES (gen_random_uuid(), 'x', 'x', 0, 0)",
    "SELECT count(*) FROM audit_logs",
    "SELECT count(*) FROM audit_logs_recent",
    "SELECT count(*) FROM audit_metrics_hourly",
    "SELECT count(*) FROM get_audit_logs_time_range(now() - INTERVAL '1 day', now())",
    "SELECT count(*) FROM processed_events",
    "SELECT count(*) FROM conflicts",
    "SELECT count(*) FROM state_outbox",
    "SELECT count(*) FROM handovers",
    "SELECT count(*) FROM emr_verifications",
    "TRUNCATE tasks",
    "CREATE TABLE public.scratch (id int)",
])
def test_reader_is_refused(as_role: Callable[[str], Conn], statement: LiteralString) -> None:
    reader = as_role("emr_reader")
    reader.execute("SELECT set_config('emr_streams.department_id', %s, false)", (str(ICU.id),))
    _refused(reader, statement)


# emr_auditor --------------------------------------------------------------------------

def test_auditor_reads_the_audit_trail_and_its_helpers(
        shared: dict[str, str], as_role: Callable[[str], Conn]) -> None:
    with psycopg.connect(shared["owner"]) as owner:
        total = _one(owner, "SELECT count(*) FROM audit_logs")
    auditor = as_role("emr_auditor")
    assert total == len(EVENTS)
    assert _one(auditor, "SELECT count(*) FROM audit_logs") == total
    assert _one(auditor, "SELECT count(*) FROM audit_logs_recent") == total
    assert _one(auditor, "SELECT sum(event_count) FROM audit_metrics_hourly") == total
    assert _one(auditor, "SELECT sum(total_events) FROM audit_compliance_daily") == total
    assert _one(auditor, "SELECT count(*) FROM get_audit_logs_time_range("
                         "emr_now() - INTERVAL '1 day', emr_now() + INTERVAL '1 minute')"
                ) == total
    assert _one(auditor, "SELECT sum(total_events) FROM get_compliance_summary("
                         "(emr_now() AT TIME ZONE 'UTC')::date - 1, "
                         "(emr_now() AT TIME ZONE 'UTC')::date + 1)") == total
    assert _one(auditor, "SELECT audit_backend()") in {"native", "timescaledb"}
    # The identity review: producer ids and contradictions (ids only, no PHI).
    for relation in ("identity_aliases", "identity_contradictions", "reference_conflicts"):
        assert isinstance(_one(auditor, f"SELECT count(*) FROM {relation}"), int)


@pytest.mark.parametrize("statement", [
    "INSERT INTO audit_logs (action, entity_type, source_system) VALUES ('x', 'x', 'x')",
    "UPDATE audit_logs SET action = 'tampered'",
    "DELETE FROM audit_logs",
    "TRUNCATE audit_logs",
    "SELECT refresh_audit_aggregates()",
    "SELECT audit_logs_drop_expired(INTERVAL '0 days')",
    "SELECT count(*) FROM tasks",
    "SELECT count(*) FROM patients",
    "SELECT count(*) FROM processed_events",
    "SELECT count(*) FROM conflicts",
    "UPDATE tasks SET title = 'x'",
    "INSERT INTO departments (id, code, name) VALUES (gen_random_uuid(), 'X', 'x')",
    "DELETE FROM state_outbox",
    "CREATE TABLE public.scratch (id int)",
    "DELETE FROM identity_aliases",
    "INSERT INTO reference_conflicts (aggregate_type, aggregate_id, event_id, field, "
    "resolution_rule) VALUES ('task', gen_random_uuid(), gen_random_uuid(), 'x', 'x')",
])
def test_auditor_is_refused(as_role: Callable[[str], Conn], statement: LiteralString) -> None:
    _refused(as_role("emr_auditor"), statement)


def test_auditor_cannot_refresh_what_the_aggregates_store(
        as_role: Callable[[str], Conn]) -> None:
    auditor = as_role("emr_auditor")
    row = auditor.execute("SELECT audit_backend()").fetchone()
    if row == ("timescaledb",):
        _refused(auditor, "CALL refresh_continuous_aggregate('audit_metrics_hourly', NULL, "
                          "NULL)")
    else:
        _refused(auditor, "REFRESH MATERIALIZED VIEW audit_metrics_hourly_store")


# The audit chain against a processor session (migration 0013) -----------------------

def test_the_audit_chain_trusts_nothing_a_processor_session_can_set_or_shadow(
        database_url: str, login: Login) -> None:
    """Three attacks an adversarial review made as an emr_processor member: read the
    chain head with current_setting(), forge the running state in a setting, shadow the
    heads with a temporary table. Each now leaves the chain intact and whole."""
    insert: LiteralString = (
        "INSERT INTO audit_logs (action, entity_type, source_system, topic, \"partition\", "
        "\"offset\") VALUES ('viewed', 'task', 'EPIC', 't', 0, %s)")
    with psycopg.connect(database_url, autocommit=True) as owner:
        assert apply_batch(owner, RECORDS[:20], codec=CODEC).poison == []
        for offset in range(5):  # the chain t:0 exists: five rows, its head at 5
            owner.execute(insert, (offset,))
    setting = "emr_streams_chain.h" + hashlib.md5(b"t:0").hexdigest()
    with psycopg.connect(login(database_url, "emr_processor"), autocommit=True) as attacker:
        with attacker.transaction():
            attacker.execute(insert, (1000,))
            # 1. Nothing of the chain's state is readable from the session.
            assert attacker.execute("SELECT current_setting(%s, true)", (setting,)
                                    ).fetchone() in {(None,), ("",)}
        for table in ("audit_chain_running", "audit_chain_heads"):
            _refused(attacker, f"SELECT * FROM {table}")  # type: ignore[arg-type]
        # 2. A forged running state is ignored.
        with attacker.transaction():
            attacker.execute("SELECT set_config(%s, %s, true)", (setting, "1:" + "ab" * 32))
            attacker.execute(insert, (1001,))
        # 3. Temporary tables named like the chain's own do not stand in for them.
        attacker.execute("CREATE TEMP TABLE audit_chain_heads (chain_key text, last_seq "
                         "bigint, last_hash bytea, updated_at timestamptz)")
        attacker.execute("INSERT INTO audit_chain_heads VALUES ('t:0', 1000, %s, now())",
                         (b"\x00" * 32,))
        attacker.execute("CREATE TEMP TABLE audit_chain_running (xact xid8, chain_key text, "
                         "seq bigint, hash bytea)")
        with attacker.transaction():
            attacker.execute("INSERT INTO audit_chain_running VALUES (pg_current_xact_id(), "
                             "'t:0', 5000, %s)", (b"\x11" * 32,))
            attacker.execute(insert, (1002,))
    report = verify_chains(database_url)
    assert report.intact, report
    with psycopg.connect(database_url) as owner:
        seqs = [r[0] for r in owner.execute(
            "SELECT chain_seq FROM audit_logs WHERE chain_key = 't:0' ORDER BY chain_seq")]
        running = owner.execute("SELECT count(*) FROM audit_chain_running").fetchone()
    assert seqs == list(range(1, 9))  # five, then the attacker's three, in order
    assert running == (0,)  # nothing left behind outside transactions


def test_the_redrive_history_names_the_role_and_is_append_only(
        database_url: str, login: Login) -> None:
    insert: LiteralString = (
        "INSERT INTO dlq_redrives (dlq_topic, dlq_partition, dlq_offset, target_topic, reason,"
        " redriven_by, redriven_at) VALUES ('t.dlq', 0, 7, 't', 'why', 'someone-else', "
        "'2000-01-01')")
    member = login(database_url, "emr_processor")
    with psycopg.connect(member, autocommit=True) as processor:
        processor.execute(insert)
        processor.execute(insert)  # a second redrive of the same letter: a second row
        me = _one(processor, "SELECT session_user")
    with psycopg.connect(database_url, autocommit=True) as owner:
        rows = owner.execute("SELECT redriven_by, redriven_at > emr_now() - interval '1 day' "
                             "FROM dlq_redrives").fetchall()
        assert rows == [(me, True), (me, True)]  # stamped by the server, not the client
        for statement in ("UPDATE dlq_redrives SET reason = 'rewritten'",
                          "DELETE FROM dlq_redrives", "TRUNCATE dlq_redrives"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                owner.execute(statement)  # type: ignore[arg-type]
