"""Minimal valid rows for schema tests."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg

from streams import clock

Conn = psycopg.Connection[tuple[object, ...]]


def department(conn: Conn, code: str) -> uuid.UUID:
    dep = uuid.uuid4()
    conn.execute("INSERT INTO departments (id, code, name) VALUES (%s, %s, %s)",
                 (dep, code, f"Department {code}"))
    return dep


def user(conn: Conn, role: str = "NURSE") -> uuid.UUID:
    uid = uuid.uuid4()
    conn.execute("INSERT INTO users (id, username, display_name, role) VALUES (%s, %s, %s, %s)",
                 (uid, f"user-{uid.hex[:8]}", "A Nurse", role))
    return uid


def patient(conn: Conn, mrn: str | None = None, dob: object = None) -> uuid.UUID:
    pid = uuid.uuid4()
    conn.execute("INSERT INTO patients (id, mrn, date_of_birth, emr_system, emr_id) "
                 "VALUES (%s, %s, %s, 'EPIC', %s)",
                 (pid, mrn or f"MRN{pid.int % 10**9:09d}", dob, f"epic-{pid.hex[:10]}"))
    return pid


def shift(conn: Conn, dep: uuid.UUID, supervisor: uuid.UUID, *, hours_from_now: int = 0
          ) -> uuid.UUID:
    sid = uuid.uuid4()
    start = clock.now() + timedelta(hours=hours_from_now)
    conn.execute("INSERT INTO shifts (id, department_id, supervisor_id, starts_at, ends_at) "
                 "VALUES (%s, %s, %s, %s, %s)",
                 (sid, dep, supervisor, start, start + timedelta(hours=8)))
    return sid


def task(conn: Conn, dep: uuid.UUID, creator: uuid.UUID, pat: uuid.UUID,
         title: str = "Check vitals") -> uuid.UUID:
    tid = uuid.uuid4()
    conn.execute("INSERT INTO tasks (id, title, patient_id, created_by, department_id) "
                 "VALUES (%s, %s, %s, %s, %s)", (tid, title, pat, creator, dep))
    return tid
