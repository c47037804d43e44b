"""Audit partitions ahead: measured, shown by `status`, exported as a metric, and /readyz
turns red months before a missing maintenance job would refuse audit rows.

Every clock here (the tests' sessions, the processor, the commands) is pinned to the 15th
of the current month at noon, so no month boundary passes during a test, whatever the day.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest

from streams.config import Settings
from streams.db.partitions import partition_months_ahead
from tests.fixtures.clock import SuiteClock
from tests.fixtures.processor import ProcessorFactory, wait_for
from tests.integration.helpers import cli, lag, produce, synthetic

pytestmark = pytest.mark.integration


def _partitions(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    return sorted(str(r[0]) for r in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit_logs'::regclass"))


def _timescaledb(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    return conn.execute("SELECT audit_backend()").fetchone() == ("timescaledb",)


def _mid_month(clock: SuiteClock) -> datetime:
    return clock.now().replace(day=15, hour=12, minute=0, second=0, microsecond=0)


def _keep_months_ahead(url: str, months: int, clock: SuiteClock) -> None:
    """Drop the audit partitions beyond *months* after the current one (as the owner)."""
    with psycopg.connect(url, autocommit=True) as conn:
        clock.pin(conn, _mid_month(clock))
        ahead = partition_months_ahead(conn)
        assert ahead is not None and ahead >= months
        for name in _partitions(conn)[len(_partitions(conn)) - (ahead - months):]:
            conn.execute(f'DROP TABLE "{name}"')  # type: ignore[arg-type]
        assert partition_months_ahead(conn) == months


def test_months_ahead_are_counted_until_the_first_missing_month(
        database_url: str, clock: SuiteClock) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        clock.pin(conn, _mid_month(clock))
        ahead = partition_months_ahead(conn)
        if _timescaledb(conn):
            assert ahead is None  # chunks come with the rows: nothing to count or watch
            return
        # Twelve, as the migration and maintenance keep them (eleven if this run began in
        # the previous month, when the template was migrated).
        assert ahead in {11, 12}
        names = _partitions(conn)
        conn.execute(f'DROP TABLE "{names[-6]}"')  # type: ignore[arg-type]
        assert partition_months_ahead(conn) == ahead - 6  # a gap ends the margin
        current = names[len(names) - 1 - ahead]
        conn.execute(f'DROP TABLE "{current}"')  # type: ignore[arg-type]
        assert partition_months_ahead(conn) == -1


def test_readyz_turns_red_before_the_partitions_run_out(
        emr_settings: Settings, processor_factory: ProcessorFactory, clock: SuiteClock) -> None:
    url = emr_settings.database_url
    with psycopg.connect(url) as conn:
        if _timescaledb(conn):
            pytest.skip("audit_logs is a TimescaleDB hypertable here: chunks come with the "
                        "rows, no partitions run out")
    _keep_months_ahead(url, 1, clock)  # next month's partition exists, the one after not
    pinned = {"EMR_STREAMS_CLOCK_OFFSET_US": str(clock.offset_for(_mid_month(clock)))}
    processor_factory.extra_env.update({"EMR_STREAMS_PROCESSOR_MAINTENANCE": "false",
                                        "EMR_STREAMS_PROCESSOR_PARTITION_CHECK_INTERVAL": "1",
                                        **pinned})
    processor = processor_factory.start()
    wait_for(lambda: processor.http("/readyz")[0] == 503
             and "audit partitions" in processor.http("/readyz")[1], timeout=60,
             what="/readyz red for the partitions", on_timeout=processor.output)
    assert "1 month(s) ahead, 2 wanted" in processor.http("/readyz")[1]
    assert "emr_streams_audit_partitions_ahead_months 1.0" in processor.http("/metrics")[1]
    shown = cli(emr_settings, "status", **pinned)
    assert "audit partitions: 1 month(s) ahead" in shown.stdout, shown.stdout + shown.stderr
    # The maintenance job (as the schema owner) restores the margin; readiness follows.
    ran = cli(emr_settings, "maintenance", "run", **pinned)
    assert ran.returncode == 0, ran.stderr
    wait_for(lambda: processor.http("/readyz")[0] == 200, timeout=60,
             what="/readyz green again", on_timeout=processor.output)
    assert "emr_streams_audit_partitions_ahead_months 12.0" in processor.http("/metrics")[1]
    assert processor.stop() == 0


def test_the_worker_guards_the_audit_chunks_its_rows_create(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    """TimescaleDB: a chunk created by the processor's own inserts loses the processor's
    privileges and gets the TRUNCATE guard at the worker's next partition check, without
    waiting for maintenance (migration 0017)."""
    url = emr_settings.database_url
    with psycopg.connect(url) as conn:
        if not _timescaledb(conn):
            pytest.skip("native partitions are created guarded (audit_logs_create_partition);"
                        " only TimescaleDB's chunks come with the rows")
    processor_factory.extra_env.update({"EMR_STREAMS_PROCESSOR_MAINTENANCE": "false",
                                        "EMR_STREAMS_PROCESSOR_PARTITION_CHECK_INTERVAL": "1"})
    produce(emr_settings, synthetic(20, seed=131))
    processor = processor_factory.start()
    wait_for(lambda: lag(emr_settings) == 0, timeout=90, what="consumed",
             on_timeout=processor.output)

    def guarded() -> bool:
        with psycopg.connect(url) as conn:
            chunks = [str(r[0]) for r in conn.execute(
                "SELECT c::text FROM show_chunks('audit_logs') c")]
            return bool(chunks) and all(conn.execute(
                "SELECT NOT has_table_privilege('emr_processor', %s, 'INSERT') AND EXISTS ("
                "SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass "
                "AND tgname = 'trg_audit_logs_no_truncate')", (c, c)).fetchone() == (True,)
                for c in chunks)

    wait_for(guarded, timeout=60, what="the new chunks guarded", on_timeout=processor.output)
    assert processor.stop() == 0
