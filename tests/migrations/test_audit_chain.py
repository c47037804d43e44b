"""The audit hash chain (migration 0009) on real PostgreSQL, and ``emr-streams audit``."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from streams import clock
from streams.audit import GENESIS, verify_chains
from streams.cli.main import app
from streams.db.migrate import MigrationRunner
from streams.sink import apply_batch
from tests.integration.helpers import CODEC, records, synthetic

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[tuple[object, ...]]


def _audit(url: str, *args: str) -> tuple[int, str, str]:
    """Run ``emr-streams audit ARGS`` on the database at *url*: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, ["audit", *args], env={"DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def _insert(db: Conn, *, action: str = "viewed", details: str = "{}",
            topic: str | None = None, partition: int | None = None, offset: int | None = None,
            at: datetime | None = None, **extra: object) -> uuid.UUID:
    row_id = uuid.uuid4()
    columns = {"id": row_id, "created_at": at or clock.now(), "action": action,
               "entity_type": "task", "source_system": "EPIC", "details": details,
               "topic": topic, "partition": partition, "offset": offset, **extra}
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    db.execute(f"INSERT INTO audit_logs ({names}) VALUES ({marks})",  # type: ignore[arg-type]
               tuple(columns.values()))
    return row_id


def _chains(db: Conn) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for key, seq in db.execute("SELECT chain_key, chain_seq FROM audit_logs "
                               "ORDER BY chain_key, chain_seq").fetchall():
        out.setdefault(str(key), []).append(int(str(seq)))
    return out


def _seed(db: Conn, count: int = 5) -> list[uuid.UUID]:
    """*count* rows on chain t:0 (offsets 0..count-1), and two on the local chain."""
    ids = [_insert(db, topic="t", partition=0, offset=i, details=json.dumps({"n": i}))
           for i in range(count)]
    _insert(db, action="exported")
    _insert(db, action="printed")
    return ids


def _tamper(db: Conn, statement: str, params: tuple[object, ...]) -> None:
    """Run *statement* as a malicious superuser: every trigger off for this session."""
    db.execute("SET session_replication_role = replica")
    db.execute(statement, params)  # type: ignore[arg-type]
    db.execute("SET session_replication_role = origin")


def test_processor_and_manual_rows_are_chained_and_verify(db: Conn, database_url: str) -> None:
    events = synthetic(90, seed=5)
    batch = records(events[:40], topic="emr.tasks.v1", partition=0) + \
        records(events[40:], topic="emr.tasks.v1", partition=1)
    batch = [r for pair in zip(batch[:40], batch[40:80], strict=True) for r in pair] + \
        batch[80:]  # partitions interleaved, as a consumer delivers them
    outcome = apply_batch(db, batch, codec=CODEC)
    assert outcome.poison == []
    # Every kind of value the canonical form renders, NULLs and non-ASCII included.
    _insert(db, details='{"b": [1.50, null, true], "aa": "é ✓ \\u0001", "": {}}',
            ip_address="10.1.2.3", user_agent="Ünïcode/1.0", session_id="",
            phi_accessed=True, actor_role="NURSE", emr_system="CERNER",
            event_id=uuid.uuid4(), patient_id=uuid.uuid4(),
            at=clock.now().replace(microsecond=999999))
    _insert(db, ip_address="::ffff:1.2.3.4/128", details='{"x": 1e3}')

    assert _chains(db) == {"emr.tasks.v1:0": list(range(1, 41)),
                           "emr.tasks.v1:1": list(range(1, 51)), "local": [1, 2]}
    # Within a partition the chain follows the offsets.
    offsets = db.execute("SELECT \"offset\" FROM audit_logs WHERE chain_key = "
                         "'emr.tasks.v1:1' ORDER BY chain_seq").fetchall()
    assert [o[0] for o in offsets] == list(range(50))
    first = db.execute("SELECT prev_hash FROM audit_logs WHERE chain_seq = 1").fetchall()
    assert {bytes(p[0]) for p in first} == {GENESIS}  # type: ignore[arg-type]
    heads = dict(db.execute("SELECT chain_key, last_seq FROM audit_chain_heads").fetchall())
    assert heads == {"emr.tasks.v1:0": 40, "emr.tasks.v1:1": 50, "local": 2}

    report = verify_chains(database_url)
    assert report.findings == [] and report.rows_checked == 92
    code, out, _ = _audit(database_url, "verify")
    assert code == 0 and "audit trail intact: 92 rows in 3 chain(s)" in out
    code, out, _ = _audit(database_url, "verify", "--json", "--chain", "local")
    assert code == 0 and json.loads(out)["chains"] == {"local": 2}


def test_chain_columns_given_by_a_client_are_overwritten(db: Conn, database_url: str) -> None:
    _insert(db)
    _insert(db, chain_key="t:0", chain_seq=99, prev_hash=b"\x01" * 32, row_hash=b"\x02" * 32)
    assert _chains(db) == {"local": [1, 2]}
    assert verify_chains(database_url).intact


def test_concurrent_writers_of_one_chain_leave_no_gap(database_url: str) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                barrier.wait()
                for n in range(30):
                    with conn.transaction(force_rollback=n % 10 == 9):
                        conn.execute(
                            "INSERT INTO audit_logs (action, entity_type, source_system, "
                            "topic, \"partition\", \"offset\") SELECT 'viewed', 'task', 'EPIC',"
                            " 'c', 0, g FROM generate_series(%s::bigint, %s::bigint) g",
                            (worker * 1000 + n * 5, worker * 1000 + n * 5 + 4))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(database_url) as conn:
        # 2 writers x 27 committed transactions x 5 rows; 3 rolled back each.
        assert _chains(conn) == {"c:0": list(range(1, 271))}
    assert verify_chains(database_url).intact


def test_heads_follow_every_flush_of_a_long_transaction(database_url: str) -> None:
    """Many statements on two chains in one transaction, the heads written midway (SET
    CONSTRAINTS ALL IMMEDIATE runs the deferred flush), more rows after it, a rolled-back
    savepoint: each head is its chain's last committed row and the running state is gone
    (migration 0018: a flush call whose row the head already covers returns)."""
    insert = ("INSERT INTO audit_logs (action, entity_type, source_system, topic, "
              "\"partition\", \"offset\") SELECT 'viewed', 'task', 'EPIC', 'f', %s, g "
              "FROM generate_series(%s::bigint, %s::bigint) g")
    with psycopg.connect(database_url) as conn:
        for start in (0, 300, 600):
            conn.execute(insert, (0, start, start + 299))
            conn.execute(insert, (1, start, start + 9))
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        heads = dict(conn.execute("SELECT chain_key, last_seq FROM audit_chain_heads "
                                  "WHERE chain_key LIKE 'f:%'").fetchall())
        assert heads == {"f:0": 900, "f:1": 30}
        conn.execute("SET CONSTRAINTS ALL DEFERRED")
        conn.execute(insert, (0, 900, 949))
        with pytest.raises(psycopg.errors.DivisionByZero), conn.transaction():
            conn.execute(insert, (1, 30, 39))
            conn.execute("SELECT 1 / 0")
        conn.execute(insert, (1, 30, 34))
        conn.commit()
        heads = dict(conn.execute("SELECT chain_key, last_seq FROM audit_chain_heads "
                                  "WHERE chain_key LIKE 'f:%'").fetchall())
        assert heads == {"f:0": 950, "f:1": 35}
        chains = _chains(conn)
        assert chains["f:0"] == list(range(1, 951)) and chains["f:1"] == list(range(1, 36))
        assert conn.execute("SELECT count(*) FROM audit_chain_running").fetchone() == (0,)
    report = verify_chains(database_url)
    assert report.findings == [] and report.intact


def test_the_migration_chains_rows_already_present(database_factory) -> None:
    url = database_factory(migrated=False)
    runner = MigrationRunner(url)
    runner.up(to=7)
    now = clock.now()
    with psycopg.connect(url, autocommit=True) as conn:
        # Before migration 0010 the partitions follow the wall clock, not the suite's.
        for moment in (now - timedelta(hours=2), now):
            conn.execute("SELECT audit_logs_create_partition(%s)", (moment.date(),))
        late = _insert(conn, at=now - timedelta(hours=1))
        early = _insert(conn, at=now - timedelta(hours=2))
        _insert(conn, topic="t", partition=3, offset=0, at=now)
    runner.up()
    with psycopg.connect(url, autocommit=True) as conn:
        ordered = conn.execute("SELECT id FROM audit_logs WHERE chain_key = 'local' "
                               "ORDER BY chain_seq").fetchall()
        assert [r[0] for r in ordered] == [early, late]  # created_at order
        assert _chains(conn) == {"local": [1, 2], "t:3": [1]}
        # New rows continue the chains, and the table is immutable again.
        _insert(conn)
        assert _chains(conn)["local"] == [1, 2, 3]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("UPDATE audit_logs SET action = 'x' WHERE id = %s", (early,))
    assert verify_chains(url).intact
    runner.down(to=7)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_logs").fetchone() == (4,)
    runner.up()
    assert verify_chains(url).intact


def test_a_changed_row_is_named(db: Conn, database_url: str) -> None:
    ids = _seed(db)
    _tamper(db, "UPDATE audit_logs SET details = '{\"n\": 99}' WHERE id = %s", (ids[2],))
    code, out, _ = _audit(database_url, "verify")
    assert code == 1
    assert f"changed: chain t:0 seq 3 row {ids[2]}" in out
    assert "audit trail TAMPERED: 1 finding(s) (changed 1)" in out


def test_a_changed_row_with_a_recomputed_hash_breaks_the_next_link(
        db: Conn, database_url: str) -> None:
    ids = _seed(db)
    # The intruder recomputes the row's hash with the database's own function.
    _tamper(db, "UPDATE audit_logs SET action = 'deleted', row_hash = audit_chain_hash("
                "prev_hash, chain_key, chain_seq, id, created_at, event_id, event_type, "
                "'deleted', entity_type, entity_id, actor_id, actor_role, patient_id, "
                "emr_system, source_system, topic, \"partition\", \"offset\", ip_address, "
                "user_agent, session_id, phi_accessed, details) WHERE id = %s", (ids[1],))
    report = verify_chains(database_url)
    assert [(f.kind, f.chain_seq, f.row_id) for f in report.findings] == \
        [("relinked", 3, str(ids[2]))]


def test_a_deleted_middle_row_is_a_gap(db: Conn, database_url: str) -> None:
    ids = _seed(db)
    _tamper(db, "DELETE FROM audit_logs WHERE id = %s", (ids[2],))
    code, out, _ = _audit(database_url, "verify")
    assert code == 1
    assert f"deleted: chain t:0 seq 4 row {ids[3]}: rows 3..3 are missing" in out
    assert "local" not in out.split("audit trail")[0]


def test_a_deleted_last_row_is_caught_by_the_head(db: Conn, database_url: str) -> None:
    ids = _seed(db)
    _tamper(db, "DELETE FROM audit_logs WHERE id = %s", (ids[-1],))
    code, out, _ = _audit(database_url, "verify", "--json")
    assert code == 1
    found = json.loads(out)["findings"]
    assert [(f["kind"], f["chain_key"], f["chain_seq"]) for f in found] == \
        [("deleted", "t:0", 5)]


def test_a_whole_deleted_chain_and_a_smuggled_row_are_caught(
        db: Conn, database_url: str) -> None:
    ids = _seed(db, count=2)
    _tamper(db, "DELETE FROM audit_logs WHERE chain_key = 'local'", ())
    _tamper(db, "INSERT INTO audit_logs (action, entity_type, source_system, topic, "
                "\"partition\", \"offset\", chain_key, chain_seq, prev_hash, row_hash) "
                "SELECT 'viewed', 'task', 'EPIC', 't', 0, 7, chain_key, chain_seq, prev_hash, "
                "row_hash FROM audit_logs WHERE id = %s", (ids[1],))
    kinds = sorted((f.kind, f.chain_key) for f in verify_chains(database_url).findings)
    assert kinds == [("changed", "t:0"), ("deleted", "local"), ("inserted", "t:0")]


def test_a_consistent_rewrite_passes_but_not_against_an_anchor(
        db: Conn, database_url: str, tmp_path: Path) -> None:
    ids = _seed(db)
    code, heads, _ = _audit(database_url, "heads", "--json")
    assert code == 0
    anchor = tmp_path / "heads.json"
    anchor.write_text(heads)
    # The intruder deletes a row and rebuilds chain and head with the database's function.
    db.execute("SET session_replication_role = replica")
    db.execute("DELETE FROM audit_logs WHERE id = %s", (ids[0],))
    prev = GENESIS
    for seq, row_id in enumerate(ids[1:], start=1):
        row = db.execute(
            "UPDATE audit_logs SET chain_seq = %s, prev_hash = %s, row_hash = "
            "audit_chain_hash(%s, chain_key, %s, id, created_at, event_id, event_type, action, "
            "entity_type, entity_id, actor_id, actor_role, patient_id, emr_system, "
            "source_system, topic, \"partition\", \"offset\", ip_address, user_agent, "
            "session_id, phi_accessed, details) WHERE id = %s RETURNING row_hash",
            (seq, prev, prev, seq, row_id)).fetchone()
        assert row is not None
        prev = bytes(row[0])  # type: ignore[arg-type]
    db.execute("UPDATE audit_chain_heads SET last_seq = 4, last_hash = %s "
               "WHERE chain_key = 't:0'", (prev,))
    db.execute("SET session_replication_role = origin")
    assert _audit(database_url, "verify")[0] == 0  # the documented limit
    code, out, _ = _audit(database_url, "verify", "--anchor", str(anchor))
    assert code == 1
    assert "anchor: chain t:0 seq 5: the anchored row 5 is missing" in out


def test_since_skips_rows_dropped_by_retention(db: Conn, database_url: str) -> None:
    old = clock.now() - timedelta(days=20)
    first = _insert(db, at=old)
    _insert(db, at=old + timedelta(minutes=1))
    _insert(db)
    _insert(db)
    _tamper(db, "DELETE FROM audit_logs WHERE id = %s", (first,))  # as retention would
    code, out, _ = _audit(database_url, "verify")
    assert code == 1 and "start: chain local seq 2" in out
    since = (old + timedelta(minutes=1)).isoformat(timespec="seconds")
    code, out, _ = _audit(database_url, "verify", "--since", since)
    assert code == 0, out
    assert "3 rows in 1 chain(s)" in out


def test_verify_cannot_run_is_exit_2(database_factory) -> None:
    url = database_factory(migrated=False)
    code, _, err = _audit(url, "verify")
    assert code == 2 and "audit_chain_heads" in err
    code, _, err = _audit("postgresql://postgres@127.0.0.1:1/x", "verify")
    assert code == 2 and err.startswith("emr-streams: error: cannot connect")


def test_the_running_row_lookup_keeps_its_index_plan_on_any_statistics(
        database_url: str) -> None:
    """After ANALYZE saw running rows once and then finds audit_chain_running empty (the
    flush deletes its rows at commit), the planner took a bitmap scan and a sort for the
    chain functions' lookup of the last running row: all of a transaction's running rows
    read and sorted for each audit row (migration 0019). Planned with the functions' own
    settings, it must stay one backward step on the primary key."""
    lookup = ("SELECT r.seq, r.hash FROM audit_chain_running AS r "
              "WHERE r.xact = $1 AND r.chain_key = $2 ORDER BY r.seq DESC LIMIT 1")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_chain_running SELECT '7'::xid8, 'probe', g, "
                     "'\\x00' FROM generate_series(1, 5000) g")
        conn.execute("ANALYZE audit_chain_running")
        conn.execute("DELETE FROM audit_chain_running WHERE chain_key = 'probe'")
        conn.execute("ANALYZE audit_chain_running")
        for function in ("audit_chain_link", "audit_chain_flush"):
            row = conn.execute("SELECT proconfig FROM pg_proc WHERE proname = %s",
                               (function,)).fetchone()
            assert row is not None and row[0]
            with conn.transaction():
                for setting in row[0]:
                    name, value = setting.split("=", 1)
                    conn.execute("SELECT set_config(%s, %s, true)", (name, value))
                conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                conn.execute(f"PREPARE lookup(xid8, text) AS {lookup}")
                plan = "\n".join(r[0] for r in conn.execute(
                    "EXPLAIN EXECUTE lookup('1'::xid8, 'probe')"))
                conn.execute("DEALLOCATE lookup")
            assert "Index Scan Backward using audit_chain_running_pkey" in plan, plan
            assert "Sort" not in plan, plan
