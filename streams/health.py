"""The processor's HTTP endpoints: ``/healthz`` (alive), ``/readyz`` (ready), ``/metrics``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["HealthServer", "HealthState"]

logger = logging.getLogger(__name__)


class HealthState:
    """What the endpoints report; set by the worker as it starts, runs and fails."""

    def __init__(self) -> None:
        self.started = False
        self.failure: str | None = None
        #: Why consumption is paused (the poison-rate breaker), or None.
        self.paused: str | None = None
        #: Why the audit partitions ahead are too few, or None.
        self.partitions: str | None = None
        self._lock = threading.Lock()

    def set_paused(self, reason: str | None) -> None:
        with self._lock:
            self.paused = reason

    def set_partitions(self, problem: str | None) -> None:
        with self._lock:
            self.partitions = problem

    def mark_started(self) -> None:
        with self._lock:
            self.started = True

    def mark_failed(self, reason: str) -> None:
        with self._lock:
            self.failure = reason


class HealthServer:
    """A small threaded HTTP server on *port* (loopback by default) in a daemon thread.

    ``/healthz`` answers 200 while no agent has failed (Kubernetes liveness: restart on 500);
    ``/readyz`` answers 200 once the worker started, while consumption is not paused (the
    poison-rate breaker), enough audit partitions lie ahead and *database_ok* returns True
    (readiness: no traffic while the database is unreachable); ``/metrics`` is Prometheus.
    """

    def __init__(self, state: HealthState, database_ok: Callable[[], bool], *, port: int,
                 host: str = "127.0.0.1") -> None:
        handler = _handler(state, database_ok)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="emr-streams-health")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        logger.info("health and metrics on port %d", self.port, extra={"event": "health.up"})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(state: HealthState, database_ok: Callable[[], bool]
             ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                if state.failure is None:
                    self._send(200, b"ok\n")
                else:
                    self._send(500, f"failed: {state.failure}\n".encode())
            elif self.path == "/readyz":
                if state.failure is not None:
                    self._send(503, b"failed\n")
                elif not state.started:
                    self._send(503, b"starting\n")
                elif state.paused is not None:
                    self._send(503, f"paused: {state.paused}\n".encode())
                elif state.partitions is not None:
                    self._send(503, f"{state.partitions}\n".encode())
                elif not database_ok():
                    self._send(503, b"database unreachable\n")
                else:
                    self._send(200, b"ready\n")
            else:
                self._send(404, b"not found\n")

    return Handler
