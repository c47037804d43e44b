"""Small helpers for the detached server processes of the local stack."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

#: Servers this process started, kept so they can be reaped (and are not reported as
#: leaked by Popen's finaliser): they outlive us by design.
_spawned: dict[int, subprocess.Popen[bytes]] = {}


def spawn_detached(command: list[str], *, log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start a server in its own session (it survives our exit), output appended to *log*."""
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True)
    _spawned[process.pid] = process
    return process


def _reap(pid: int) -> None:
    process = _spawned.get(pid)
    if process is not None and process.poll() is not None:
        del _spawned[pid]


def pid_alive(pid: int, *, must_contain: str | None = None) -> bool:
    """Tell whether *pid* is a live process (and its command line contains *must_contain*)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie has exited already; only its parent has not reaped it yet.
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    if must_contain is None:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return must_contain in cmdline


def read_pid(pid_file: Path) -> int | None:
    """Return the pid recorded in *pid_file*, or None when there is none."""
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def port_open(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """Tell whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def terminate(pid: int, *, timeout: float, must_contain: str | None = None) -> bool:
    """Send SIGTERM, wait up to *timeout* seconds, then SIGKILL; return True if it had to kill."""
    if not pid_alive(pid, must_contain=must_contain):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return False
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    _reap(pid)
    return True
