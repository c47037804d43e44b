"""The local stack itself: idempotent start, and a stop that leaves no process behind."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest

from streams.config import StackSettings
from streams.devstack import LocalStack
from streams.devstack._process import pid_alive, port_open
from streams.kafka.admin import cluster_ready

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_up_is_idempotent_and_down_leaves_nothing_running(
        tmp_path: Path, stack_settings: StackSettings, services: object) -> None:
    settings = StackSettings(dir=tmp_path / "stack", jar_cache=stack_settings.jar_cache,
                             kafka_port=_free_port(), kafka_controller_port=_free_port(),
                             postgres_port=_free_port(), kafka_heap="256m")
    stack = LocalStack(settings)
    try:
        first = stack.up()
        assert first.running
        assert cluster_ready(first.kafka_bootstrap, timeout=10)
        with psycopg.connect(first.database_url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("emr_streams",)
        again = stack.up()
        assert (again.kafka_pid, again.postgres_pid) == (first.kafka_pid, first.postgres_pid)
    finally:
        stopped = stack.down()
    assert not stopped.running
    assert first.kafka_pid is not None and first.postgres_pid is not None
    assert not pid_alive(first.kafka_pid)
    assert not pid_alive(first.postgres_pid)
    for port in (settings.kafka_port, settings.kafka_controller_port, settings.postgres_port):
        assert not port_open("127.0.0.1", port), f"port {port} still open"
    # Stopping a stopped stack is a no-op, not an error.
    assert not stack.down().running


def test_a_port_held_by_another_process_is_a_clear_error(
        tmp_path: Path, stack_settings: StackSettings) -> None:
    from streams.devstack.errors import PortInUseError

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        settings = StackSettings(dir=tmp_path / "stack", jar_cache=stack_settings.jar_cache,
                                 kafka_port=taken, kafka_controller_port=_free_port(),
                                 postgres_port=_free_port())
        with pytest.raises(PortInUseError, match=str(taken)):
            LocalStack(settings).kafka.start()
