"""A small migration runner for the plain-SQL files in ``migrations/``.

Each migration is a pair ``NNNN_name.up.sql`` / ``NNNN_name.down.sql``. Applied versions
are recorded with the SHA-256 of their up file in ``emr_streams_migrations``; an applied
file that was edited afterwards is refused. A session advisory lock keeps two processes
from migrating at once, and each migration runs in its own transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from streams.db.errors import (
    DatabaseUnavailableError,
    MigrationChecksumError,
    MigrationError,
    MigrationFileError,
)

__all__ = ["AppliedMigration", "Migration", "MigrationRunner", "default_migrations_dir"]

logger = logging.getLogger(__name__)

_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.(?P<direction>up|down)\.sql$")
#: pg_advisory_lock key: the first 8 bytes of sha256("emr-streams migrations"), signed.
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"emr-streams migrations").digest()[:8], "big",
                           signed=True)
_LEDGER = """
CREATE TABLE IF NOT EXISTS emr_streams_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection; an unreachable server is a DatabaseUnavailableError."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        # The message names host and port, never the password.
        raise DatabaseUnavailableError(f"cannot connect to PostgreSQL: {exc}") from exc


def default_migrations_dir() -> Path:
    """The ``migrations/`` folder of this source tree."""
    return Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True)
class Migration:
    """One migration on disk."""

    version: int
    name: str
    up_sql: str
    down_sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up_sql.encode()).hexdigest()


@dataclass(frozen=True)
class AppliedMigration:
    """One row of the ledger."""

    version: int
    name: str
    checksum: str
    applied_at: datetime


def load_migrations(folder: Path) -> list[Migration]:
    """Read and check every migration pair in *folder*, in version order."""
    if not folder.is_dir():
        raise MigrationFileError(f"migrations folder {folder} not found; set "
                                 "EMR_STREAMS_POSTGRES_MIGRATIONS_DIR")
    pairs: dict[int, dict[str, tuple[str, Path]]] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise MigrationFileError(f"{path.name}: not NNNN_name.up.sql or NNNN_name.down.sql")
        version = int(match["version"])
        entry = pairs.setdefault(version, {})
        if match["direction"] in entry:
            raise MigrationFileError(f"two {match['direction']} files for version {version}")
        entry[match["direction"]] = (match["name"], path)
    migrations = []
    for version in sorted(pairs):
        entry = pairs[version]
        if set(entry) != {"up", "down"}:
            raise MigrationFileError(f"version {version} needs both an up and a down file")
        if entry["up"][0] != entry["down"][0]:
            raise MigrationFileError(f"version {version}: up and down files differ in name")
        migrations.append(Migration(version, entry["up"][0], entry["up"][1].read_text(),
                                    entry["down"][1].read_text()))
    return migrations


class MigrationRunner:
    """Apply, revert and report migrations on one database."""

    def __init__(self, url: str, *, folder: Path | None = None) -> None:
        self._url = url
        self.migrations = load_migrations(folder or default_migrations_dir())

    def status(self) -> tuple[list[AppliedMigration], list[Migration]]:
        """Return (applied, pending), after checking the applied files are unchanged."""
        with connect(self._url) as conn:
            applied = self._applied(conn)
        self._check(applied)
        done = {a.version for a in applied}
        return applied, [m for m in self.migrations if m.version not in done]

    def up(self, *, to: int | None = None) -> list[Migration]:
        """Apply pending migrations up to version *to* (all by default); return them."""
        done: list[Migration] = []
        with self._locked() as conn:
            applied = {a.version for a in self._check(self._applied(conn))}
            for migration in self.migrations:
                if migration.version in applied or (to is not None and migration.version > to):
                    continue
                self._run(conn, migration, migration.up_sql, forward=True)
                done.append(migration)
        return done

    def down(self, *, to: int = 0) -> list[Migration]:
        """Revert applied migrations above version *to* (0: all), newest first."""
        done: list[Migration] = []
        with self._locked() as conn:
            applied = {a.version for a in self._check(self._applied(conn))}
            for migration in reversed(self.migrations):
                if migration.version in applied and migration.version > to:
                    self._run(conn, migration, migration.down_sql, forward=False)
                    done.append(migration)
        return done

    def _locked(self) -> _Locked:
        return _Locked(self._url)

    def _applied(self, conn: psycopg.Connection[tuple[object, ...]]) -> list[AppliedMigration]:
        exists = conn.execute("SELECT to_regclass('emr_streams_migrations')").fetchone()
        if exists is None or exists[0] is None:
            return []
        rows = conn.execute("SELECT version, name, checksum, applied_at "
                            "FROM emr_streams_migrations ORDER BY version").fetchall()
        return [AppliedMigration(int(str(v)), str(n), str(c), a)  # type: ignore[arg-type]
                for v, n, c, a in rows]

    def _check(self, applied: list[AppliedMigration]) -> list[AppliedMigration]:
        known = {m.version: m for m in self.migrations}
        for row in applied:
            migration = known.get(row.version)
            if migration is None:
                raise MigrationFileError(
                    f"migration {row.version:04d}_{row.name} is applied but its file is missing")
            if migration.checksum != row.checksum:
                raise MigrationChecksumError(
                    f"migration {row.version:04d}_{row.name} was edited after it was applied "
                    "(checksum differs); add a new migration instead of editing a released one")
        return applied

    def _run(self, conn: psycopg.Connection[tuple[object, ...]], migration: Migration,
             text: str, *, forward: bool) -> None:
        label = f"{migration.version:04d}_{migration.name}"
        try:
            with conn.transaction():
                conn.execute(text.encode())
                if forward:
                    conn.execute("INSERT INTO emr_streams_migrations (version, name, checksum) "
                                 "VALUES (%s, %s, %s)",
                                 (migration.version, migration.name, migration.checksum))
                else:
                    conn.execute("DELETE FROM emr_streams_migrations WHERE version = %s",
                                 (migration.version,))
        except psycopg.Error as exc:
            direction = "apply" if forward else "revert"
            raise MigrationError(f"cannot {direction} {label}: {exc}") from exc
        logger.info("%s %s", "applied" if forward else "reverted", label,
                    extra={"event": "migration.applied" if forward else "migration.reverted"})


class _Locked:
    """A connection holding the migration advisory lock, with the ledger created."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def __enter__(self) -> psycopg.Connection[tuple[object, ...]]:
        conn = connect(self._url)
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        conn.execute(_LEDGER)
        self._conn = conn
        return conn

    def __exit__(self, *exc: object) -> None:
        assert self._conn is not None
        try:
            if not self._conn.closed:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        finally:
            self._conn.close()
