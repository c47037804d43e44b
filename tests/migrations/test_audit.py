"""The audit trail on real PostgreSQL: immutability, partitions, retention, helpers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from streams.db.maintenance import run_maintenance
from tests.fixtures.clock import SuiteClock
from tests.instants import INSTANTS, add_months, month_start

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[tuple[object, ...]]


def _backend(db: Conn) -> str:
    row = db.execute("SELECT audit_backend()").fetchone()
    assert row is not None
    return str(row[0])


def _insert(db: Conn, at: datetime, *, actor: uuid.UUID | None = None, phi: bool = False,
            entity_type: str = "task", action: str = "created", emr: str | None = "EPIC",
            source: str = "EPIC") -> uuid.UUID:
    row_id = uuid.uuid4()
    db.execute("INSERT INTO audit_logs (id, created_at, action, entity_type, entity_id, "
               "actor_id, emr_system, source_system, phi_accessed) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
               (row_id, at, action, entity_type, uuid.uuid4(), actor, emr, source, phi))
    return row_id


def _partitions(db: Conn) -> list[str]:
    return [str(r[0]) for r in db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit_logs'::regclass ORDER BY 1").fetchall()]


def test_audit_rows_cannot_be_changed(db: Conn, clock: SuiteClock) -> None:
    row_id = _insert(db, clock.now())
    for statement in ("UPDATE audit_logs SET action = 'tampered' WHERE id = %s",
                      "DELETE FROM audit_logs WHERE id = %s"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            db.execute(statement, (row_id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        db.execute("TRUNCATE audit_logs")
    assert db.execute("SELECT count(*) FROM audit_logs WHERE id = %s",
                      (row_id,)).fetchone() == (1,)


def test_primary_key_includes_the_time_column(db: Conn) -> None:
    row = db.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                     "WHERE conrelid = 'audit_logs'::regclass AND contype = 'p'").fetchone()
    assert row == ("PRIMARY KEY (id, created_at)",)


def _partition_of(db: Conn, row_id: uuid.UUID) -> str:
    row = db.execute("SELECT tableoid::regclass::text FROM audit_logs WHERE id = %s",
                     (row_id,)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize("pinned", [None, *INSTANTS], ids=["suite-clock", *map(str, INSTANTS)])
def test_native_partitions_are_ready_ahead_and_guarded(db: Conn, clock: SuiteClock,
                                                       pinned: datetime | None) -> None:
    if _backend(db) != "native":
        pytest.skip("audit_logs is a TimescaleDB hypertable here: chunks, not partitions")
    if pinned is not None:
        clock.pin(db, pinned)
    # As maintenance does every hour: a suite that started in one month may be in the
    # next by now (the template's partitions were made at its start).
    db.execute("SELECT count(*) FROM audit_logs_ensure_partitions()")
    now = pinned or clock.now()
    names = _partitions(db)
    this_month = month_start(now)
    for months in (-1, 0, 1, 6, 12):
        assert f"audit_logs_p{add_months(this_month, months):%Y%m}" in names
    # A row stamped by the database's clock lands in this month's partition.
    default_stamped = uuid.uuid4()
    db.execute("INSERT INTO audit_logs (id, action, entity_type, source_system) "
               "VALUES (%s, 'created', 'task', 'EPIC')", (default_stamped,))
    current = f"audit_logs_p{this_month:%Y%m}"
    assert _partition_of(db, default_stamped) == current
    # Partitions are guarded like the parent, even when addressed directly.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(f"DELETE FROM {current} WHERE id = %s",  # type: ignore[arg-type]
                   (default_stamped,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(f"TRUNCATE {current}")  # type: ignore[arg-type]


@pytest.mark.parametrize("pinned", [None, *INSTANTS], ids=["suite-clock", *map(str, INSTANTS)])
def test_retention_drops_partitions_older_than_seven_years(db: Conn, clock: SuiteClock,
                                                           pinned: datetime | None) -> None:
    if _backend(db) != "native":
        pytest.skip("on TimescaleDB the retention policy drops chunks")
    if pinned is not None:
        clock.pin(db, pinned)
    now = pinned or clock.now()
    # The month seven years back is the boundary: its partition still holds rows younger
    # than seven years (kept); the month before it holds none (dropped).
    kept_month = add_months(month_start(now), -7 * 12)
    old_month = add_months(kept_month, -1)
    old = db.execute("SELECT audit_logs_create_partition(%s)", (old_month,)).fetchone()
    recent = db.execute("SELECT audit_logs_create_partition(%s)", (kept_month,)).fetchone()
    assert old is not None and recent is not None
    _insert(db, datetime.combine(old_month + timedelta(days=3), datetime.min.time(), UTC))
    _insert(db, datetime.combine(kept_month + timedelta(days=3), datetime.min.time(), UTC))
    report = run_maintenance(db)
    assert report.partitions_dropped == [old[0]]
    assert old[0] not in _partitions(db) and recent[0] in _partitions(db)
    assert db.execute("SELECT count(*) FROM audit_logs").fetchone() == (1,)
    # Running it again finds nothing more to do.
    again = run_maintenance(db)
    assert again.partitions_dropped == [] and again.partitions_created == []


#: A session in New York, pinned just after the 2027 change to daylight saving time
#: (14 March, 02:00 EST): the three days before it cross the change, and 03:30 UTC is
#: still the previous calendar day in New York.
DST = (datetime(2027, 3, 15, 3, 30, tzinfo=UTC), "America/New_York")


@pytest.mark.parametrize(("pinned", "zone"),
                         [(None, "UTC"), *((i, "UTC") for i in INSTANTS), DST],
                         ids=["suite-clock", *map(str, INSTANTS), "new-york-dst"])
def test_helpers_and_aggregates_give_the_known_figures(db: Conn, clock: SuiteClock,
                                                       pinned: datetime | None,
                                                       zone: str) -> None:
    db.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
    if pinned is not None:
        clock.pin(db, pinned)
    db.execute("SELECT count(*) FROM audit_logs_ensure_partitions()")
    now = pinned or clock.now()
    nurse = uuid.uuid4()
    # Three UTC days back, so that "recent" (five minutes ago) stays outside both days
    # even when the test runs just after midnight UTC.
    day1 = now.replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=3)
    day2 = day1 + timedelta(days=1)
    for minute in range(3):
        _insert(db, day1 + timedelta(minutes=minute), actor=nurse, phi=minute == 0)
    _insert(db, day1 + timedelta(hours=1), actor=None)
    _insert(db, day2, actor=nurse, phi=True, entity_type="handover", action="accepted",
            emr=None, source="DEVICE")
    recent = _insert(db, now - timedelta(minutes=5), actor=nurse)

    summary = db.execute("SELECT day, total_events, phi_access_events, attributed_events, "
                         "unattributed_events, attribution_rate::text "
                         "FROM get_compliance_summary(%s, %s)",
                         (day1.date(), day2.date())).fetchall()
    assert summary == [(day1.date(), 4, 1, 3, 1, "0.7500"), (day2.date(), 1, 1, 1, 0, "1.0000")]

    window = db.execute("SELECT action FROM get_audit_logs_time_range(%s, %s)",
                        (day1, day1 + timedelta(hours=2))).fetchall()
    assert len(window) == 4
    handovers = db.execute("SELECT count(*) FROM get_audit_logs_time_range(%s, %s, 'handover')",
                           (day1, day2 + timedelta(hours=1))).fetchone()
    assert handovers == (1,)
    assert db.execute("SELECT id FROM audit_logs_recent").fetchall() == [(recent,)]

    run_maintenance(db)
    hourly = db.execute("SELECT event_count, phi_access_count FROM audit_metrics_hourly "
                        "WHERE bucket = %s AND entity_type = 'task'", (day1,)).fetchone()
    assert hourly == (3, 1)
    # Daily buckets are UTC days whatever the refreshing session's time zone.
    daily = db.execute("SELECT emr_system, source_system, total_events, phi_access_events, "
                       "attributed_events, unattributed_events FROM audit_compliance_daily "
                       "WHERE bucket = %s ORDER BY 1", (day2.replace(hour=0),)).fetchall()
    assert daily == [("NONE", "DEVICE", 1, 1, 1, 0)]


#: Each aggregate as audit_logs says it should be: UTC buckets, the same columns.
_REFERENCE = {
    "audit_metrics_hourly": """
        SELECT date_trunc('hour', created_at, 'UTC'), entity_type, action, source_system,
               count(*), count(*) FILTER (WHERE phi_accessed), min(created_at),
               max(created_at)
        FROM audit_logs GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
    "audit_compliance_daily": """
        SELECT date_trunc('day', created_at, 'UTC'), coalesce(emr_system::text, 'NONE'),
               source_system, count(*), count(*) FILTER (WHERE phi_accessed),
               count(actor_id), count(*) FILTER (WHERE actor_id IS NULL)
        FROM audit_logs GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
}


def _aggregate(db: Conn, name: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in db.execute(
        f"SELECT * FROM {name} ORDER BY 1, 2, 3" + (", 4" if "hourly" in name else ""))]


def _reference(db: Conn, name: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in db.execute(_REFERENCE[name])]


def test_aggregates_count_the_current_hour_and_backfills(db: Conn, clock: SuiteClock) -> None:
    """Correct whenever read: the current hour and day without a refresh (real-time), and
    history or a late backfill after the next maintenance run; UTC buckets whatever the
    session's time zone, the same figures on both paths."""
    db.execute("SELECT set_config('TimeZone', 'Asia/Kolkata', false)")  # a half-hour zone
    db.execute("SELECT count(*) FROM audit_logs_ensure_partitions()")
    now = clock.now()
    history = now - timedelta(days=40)
    db.execute("SELECT audit_logs_create_partition(%s)", (month_start(history),))
    _insert(db, history, actor=uuid.uuid4(), phi=True)
    run_maintenance(db)
    for name in _REFERENCE:
        assert _aggregate(db, name) == _reference(db, name)
    # Live rows count at once, without a refresh.
    _insert(db, now, entity_type="handover", action="accepted", source="DEVICE", emr=None)
    _insert(db, now, actor=uuid.uuid4())
    for name in _REFERENCE:
        assert _aggregate(db, name) == _reference(db, name), name
    current = db.execute("SELECT sum(event_count)::int FROM audit_metrics_hourly WHERE bucket = "
                         "date_trunc('hour', %s::timestamptz, 'UTC')", (now,)).fetchone()
    assert current == (2,)
    # A backfill into history counts after the next maintenance run.
    _insert(db, history + timedelta(minutes=5), entity_type="task", action="completed")
    run_maintenance(db)
    for name in _REFERENCE:
        assert _aggregate(db, name) == _reference(db, name), name


def test_timescaledb_path(db: Conn) -> None:
    loadable = db.execute("SELECT audit_timescaledb_loadable()").fetchone()
    if not loadable or not loadable[0]:
        pytest.skip("TimescaleDB is not installed in this PostgreSQL (not in "
                    "pg_available_extensions or shared_preload_libraries): native path only")
    assert _backend(db) == "timescaledb"
    chunk = db.execute("SELECT time_interval FROM timescaledb_information.dimensions "
                       "WHERE hypertable_name = 'audit_logs'").fetchone()
    assert chunk is not None and chunk[0] == timedelta(days=30)
    jobs = {r[0] for r in db.execute("SELECT proc_name FROM timescaledb_information.jobs "
                                     "WHERE hypertable_name IN ('audit_logs', "
                                     "'audit_metrics_hourly', 'audit_compliance_daily')")}
    assert {"policy_compression", "policy_retention", "policy_refresh_continuous_aggregate"} \
        <= jobs
