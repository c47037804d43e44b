"""The seed's data model as the migrations create it, on real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from tests.fixtures.clock import SuiteClock
from tests.migrations import rows

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[tuple[object, ...]]

# (table, column, referenced table, ON DELETE, ON UPDATE); a = no action, r = restrict,
# c = cascade, n = set null. The seed fixes tasks.patient_id's rules (RESTRICT/CASCADE);
# docs/schema.md gives the reasons for the others.
FOREIGN_KEYS = {
    ("tasks", "patient_id", "patients", "r", "c"),
    ("tasks", "assigned_to", "users", "n", "c"),
    ("tasks", "created_by", "users", "r", "c"),
    ("tasks", "department_id", "departments", "r", "c"),
    ("tasks", "shift_id", "shifts", "n", "c"),
    ("emr_verifications", "task_id", "tasks", "c", "c"),
    ("emr_verifications", "verified_by", "users", "r", "c"),
    ("handovers", "from_shift_id", "shifts", "r", "c"),
    ("handovers", "to_shift_id", "shifts", "r", "c"),
    ("handovers", "initiated_by", "users", "r", "c"),
    ("handovers", "accepted_by", "users", "n", "c"),
    ("shifts", "department_id", "departments", "r", "c"),
    ("shifts", "supervisor_id", "users", "r", "c"),
}
# Nullability the seed lists: required FKs are NOT NULL, nullable ones are not.
NULLABLE_FK_COLUMNS = {("tasks", "assigned_to"), ("tasks", "shift_id"),
                       ("handovers", "accepted_by")}

ENUMS = {
    "task_status": ["PENDING", "IN_PROGRESS", "BLOCKED", "COMPLETED", "CANCELLED"],
    "task_priority": ["LOW", "MEDIUM", "HIGH", "CRITICAL"],
    "user_role": ["NURSE", "DOCTOR", "SUPERVISOR", "ADMIN", "AUDITOR"],
    "emr_system": ["EPIC", "CERNER", "GENERIC_FHIR"],
    "verification_status": ["PENDING", "VERIFIED", "FAILED"],
    "handover_status": ["INITIATED", "ACCEPTED", "REJECTED", "COMPLETED"],
}

INDEXES = {
    "tasks": {"idx_tasks_department_status_due": "(department_id, status, due_date)",
              "idx_tasks_assigned_status": "(assigned_to, status)",
              "idx_tasks_patient_id": "(patient_id)",
              "idx_tasks_vector_clock": "gin (vector_clock jsonb_path_ops)"},
    "patients": {"uq_patients_mrn": "(mrn)",
                 "idx_patients_emr_identity": "(emr_system, emr_id)",
                 "idx_patients_is_active": "(is_active)",
                 "idx_patients_created_at": "(created_at)"},
    "emr_verifications": {
        "idx_emr_verifications_vector_clock": "(task_id, hlc_physical, hlc_logical, origin_node)",
        "idx_emr_verifications_verified_at": "(verified_at)"},
    "handovers": {"idx_handovers_from_shift": "(from_shift_id)",
                  "idx_handovers_to_shift": "(to_shift_id)",
                  "idx_handovers_completed": "(completed_at)",
                  "idx_handovers_vector_clock": "gin (vector_clock jsonb_path_ops)"},
    "audit_logs": {"idx_audit_logs_entity": "(entity_type, entity_id)",
                   "idx_audit_logs_created_at_brin": "brin (created_at)",
                   "idx_audit_logs_emr_patient": "(emr_system, patient_id)"},
}


def test_enums_have_their_labels(db: Conn) -> None:
    found = dict(db.execute(
        "SELECT t.typname::text, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) "
        "FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname").fetchall())
    assert found == ENUMS


def test_the_thirteen_foreign_keys_with_their_rules(db: Conn) -> None:
    found = set(db.execute("""
        SELECT c.conrelid::regclass::text, a.attname::text, c.confrelid::regclass::text,
               c.confdeltype::text, c.confupdtype::text
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace""").fetchall())
    assert found == FOREIGN_KEYS
    nullable = {(t, c) for t, c, nn in db.execute("""
        SELECT c.conrelid::regclass::text, a.attname::text, a.attnotnull
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace""").fetchall()
        if not nn}
    assert nullable == NULLABLE_FK_COLUMNS


@pytest.mark.parametrize("table", sorted(INDEXES))
def test_indexes(db: Conn, table: str) -> None:
    found = dict(db.execute(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = %s",
        (table,)).fetchall())
    for name, columns in INDEXES[table].items():
        assert name in found, f"{table}: index {name} missing"
        assert columns in found[name], f"{name}: {found[name]}"


def test_patient_trigger_rejects_bad_mrn_and_dob_without_echoing_them(
        db: Conn, clock: SuiteClock) -> None:
    rows.patient(db, mrn="ABC123456", dob=date(1980, 5, 17))
    cases = [("abc-12", None, "invalid MRN format"),
             ("AB1", None, "invalid MRN format"),
             # Two days ahead of UTC: no time zone on Earth has reached that date yet.
             ("GOODMRN001", clock.today() + timedelta(days=2), "date of birth: in the future"),
             ("GOODMRN002", date(1899, 12, 31), "before 1900-01-01")]
    for mrn, dob, message in cases:
        with pytest.raises(psycopg.errors.CheckViolation) as info:
            rows.patient(db, mrn=mrn, dob=dob)
        assert message in str(info.value)
        assert mrn not in str(info.value)
        if dob is not None:
            assert dob.isoformat() not in str(info.value)


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Honolulu", "Pacific/Kiritimati"])
def test_a_date_of_birth_is_in_the_future_only_where_no_one_has_reached_it(
        db: Conn, clock: SuiteClock, zone: str) -> None:
    # 30 April, 23:58 UTC: 1 May has begun in UTC+14 (Kiritimati), not yet anywhere in
    # UTC; in Honolulu (UTC-10) it is still the afternoon of 30 April. The session's own
    # TimeZone changes nothing.
    db.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
    clock.pin(db, datetime(2027, 4, 30, 23, 58, tzinfo=UTC))
    rows.patient(db, mrn="BORNMAY01", dob=date(2027, 5, 1))
    with pytest.raises(psycopg.errors.CheckViolation, match="in the future"):
        rows.patient(db, mrn="BORNMAY02", dob=date(2027, 5, 2))


def test_reader_sees_only_its_department(db: Conn) -> None:
    nurse = rows.user(db)
    pat = rows.patient(db)
    icu, er = rows.department(db, "ICU"), rows.department(db, "ER")
    icu_tasks = {rows.task(db, icu, nurse, pat) for _ in range(3)}
    rows.task(db, er, nurse, pat)
    role = f"test_reader_{uuid.uuid4().hex[:8]}"
    db.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    try:
        db.execute(sql.SQL("GRANT SELECT, INSERT ON tasks TO {}").format(sql.Identifier(role)))
        with db.transaction():
            db.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            assert db.execute("SELECT count(*) FROM tasks").fetchone() == (0,)
            db.execute("SELECT set_config('emr_streams.department_id', %s, true)", (str(icu),))
            seen = {r[0] for r in db.execute("SELECT id FROM tasks").fetchall()}
            assert seen == icu_tasks
            # It cannot write a task into another department either.
            with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
                db.execute("INSERT INTO tasks (id, title, patient_id, created_by, "
                           "department_id) VALUES (%s, 'x', %s, %s, %s)",
                           (uuid.uuid4(), pat, nurse, er))
        # The owner (the processor) is not confined.
        assert db.execute("SELECT count(*) FROM tasks").fetchone() == (4,)
    finally:
        db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_clock_columns_only_move_forward(db: Conn) -> None:
    tid = rows.task(db, rows.department(db, "ICU"), rows.user(db), rows.patient(db))
    db.execute("UPDATE tasks SET vector_clock = %s, hlc_physical = 100, hlc_logical = 2 "
               "WHERE id = %s", (json.dumps({"tab-1": 3, "tab-2": 1}), tid))
    with pytest.raises(psycopg.errors.CheckViolation, match="moved backwards"):
        db.execute("UPDATE tasks SET hlc_logical = 1 WHERE id = %s", (tid,))
    with pytest.raises(psycopg.errors.CheckViolation, match="lost or decreased"):
        db.execute("UPDATE tasks SET vector_clock = %s WHERE id = %s",
                   (json.dumps({"tab-1": 2, "tab-2": 5}), tid))
    with pytest.raises(psycopg.errors.CheckViolation, match="chk_tasks_vector_clock"):
        db.execute("UPDATE tasks SET vector_clock = %s WHERE id = %s",
                   (json.dumps({"tab-1": 3, "tab-2": 1, "x": -1}), tid))
    # The processing time is applied_at; updated_at is the event's (set by the merge).
    before = db.execute("SELECT applied_at FROM tasks WHERE id = %s", (tid,)).fetchone()
    db.execute("UPDATE tasks SET vector_clock = %s, hlc_physical = 101 WHERE id = %s",
               (json.dumps({"tab-1": 4, "tab-2": 1}), tid))
    after = db.execute("SELECT applied_at FROM tasks WHERE id = %s", (tid,)).fetchone()
    assert before is not None and after is not None and after[0] > before[0]


def test_patient_task_summary(db: Conn) -> None:
    dep, nurse, pat = rows.department(db, "ICU"), rows.user(db), rows.patient(db)
    done = rows.task(db, dep, nurse, pat)
    rows.task(db, dep, nurse, pat)
    db.execute("UPDATE tasks SET status = 'COMPLETED' WHERE id = %s", (done,))
    summary = db.execute("SELECT total_tasks, open_tasks, completed_tasks "
                         "FROM patient_task_summary WHERE patient_id = %s", (pat,)).fetchone()
    assert summary == (2, 1, 1)


def test_handover_and_verification_rows(db: Conn) -> None:
    dep, sup, pat = rows.department(db, "ICU"), rows.user(db, "SUPERVISOR"), rows.patient(db)
    tid = rows.task(db, dep, sup, pat)
    day, night = rows.shift(db, dep, sup), rows.shift(db, dep, sup, hours_from_now=8)
    db.execute("INSERT INTO handovers (id, from_shift_id, to_shift_id, initiated_by, task_ids) "
               "VALUES (%s, %s, %s, %s, %s)", (uuid.uuid4(), day, night, sup, [tid]))
    with pytest.raises(psycopg.errors.CheckViolation, match="chk_handovers_distinct_shifts"):
        db.execute("INSERT INTO handovers (id, from_shift_id, to_shift_id, initiated_by) "
                   "VALUES (%s, %s, %s, %s)", (uuid.uuid4(), day, day, sup))
    db.execute("INSERT INTO emr_verifications (id, task_id, verified_by, emr_system, status) "
               "VALUES (%s, %s, %s, 'EPIC', 'VERIFIED')", (uuid.uuid4(), tid, sup))
    # ON DELETE RESTRICT: a patient with tasks cannot be deleted. PostgreSQL 18 reports it
    # as restrict_violation; earlier versions as foreign_key_violation.
    version = db.execute("SELECT current_setting('server_version_num')::int").fetchone()
    refused = (psycopg.errors.RestrictViolation if version and version[0] >= 180000
               else psycopg.errors.ForeignKeyViolation)
    with pytest.raises(refused, match="fk_tasks_patient"):
        db.execute("DELETE FROM patients WHERE id = %s", (pat,))
