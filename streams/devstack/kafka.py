"""Apache Kafka in KRaft mode (one broker+controller) from Maven Central jars, on local Java."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from streams.devstack._process import (
    pid_alive,
    port_open,
    read_pid,
    spawn_detached,
    terminate,
)
from streams.devstack.errors import MissingToolError, PortInUseError, StackError
from streams.kafka.admin import cluster_ready

__all__ = ["KAFKA_VERSION", "KafkaNode", "Listener"]

logger = logging.getLogger(__name__)

#: Keep in step with deploy/local/kafka/pom.xml.
KAFKA_VERSION = "4.4.0"
_POM = Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka" / "pom.xml"
_MAIN_CLASS = "kafka.Kafka"

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.controller.name = kafka.controller
logger.controller.level = WARN
"""


@dataclass(frozen=True)
class Listener:
    """A client listener beside the node's PLAINTEXT one, e.g. ``Listener("SSL", 29092)``.

    *name* is the listener name in server.properties (``listener.name.<name lower>.*``
    properties apply to it); *protocol* defaults to the name.
    """

    name: str
    port: int
    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None

    @property
    def security_protocol(self) -> str:
        return self.protocol or self.name


@dataclass(frozen=True, kw_only=True)
class KafkaNode:
    """One local Kafka process: its state directory, jar cache and loopback ports.

    The PLAINTEXT listener on *port* is always there (inter-broker traffic and the
    readiness check use it). *listeners* adds more (SSL, SASL_SSL...), *properties* adds
    or overrides server.properties lines (the keystore, ``sasl.enabled.mechanisms``...)
    and *format_args* is passed to ``kafka-storage format`` when the storage is new (for
    example ``("--add-scram", "SCRAM-SHA-512=[name=app,password=...]")``).
    """

    home: Path
    jar_cache: Path
    port: int
    controller_port: int
    heap: str = "512m"
    host: str = "127.0.0.1"
    listeners: tuple[Listener, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    format_args: tuple[str, ...] = ()

    @property
    def bootstrap_servers(self) -> str:
        """The address clients use."""
        return f"{self.host}:{self.port}"

    def address(self, listener: str) -> str:
        """The host:port of the extra listener named *listener*."""
        for candidate in self.listeners:
            if candidate.name == listener:
                return f"{self.host}:{candidate.port}"
        raise KeyError(f"no listener named {listener!r}")

    @property
    def libs(self) -> Path:
        return self.jar_cache / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def _pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def _config(self) -> Path:
        return self.home / "server.properties"

    def pid(self) -> int | None:
        """The pid of our running broker, or None."""
        pid = read_pid(self._pid_file)
        if pid is not None and pid_alive(pid, must_contain=str(self._config)):
            return pid
        return None

    def ensure_jars(self) -> Path:
        """Resolve the broker's jars from Maven Central into the cache (once)."""
        marker = self.libs / ".complete"
        if marker.exists():
            return self.libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise MissingToolError("Maven (mvn) is needed to fetch the Kafka jars; install it")
        self.libs.mkdir(parents=True, exist_ok=True)
        logger.info("resolving Kafka %s jars into %s", KAFKA_VERSION, self.libs,
                    extra={"event": "kafka.jars.resolve"})
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(_POM), "dependency:copy-dependencies",
             f"-DoutputDirectory={self.libs}"],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise StackError(f"mvn could not resolve the Kafka jars: {result.stdout[-2000:]}"
                             f"{result.stderr[-2000:]}")
        marker.touch()
        return self.libs

    def start(self, *, timeout: float = 90.0) -> int:
        """Start the broker (or reuse the running one) and wait until it answers metadata."""
        pid = self.pid()
        if pid is not None:
            if cluster_ready(self.bootstrap_servers, timeout=timeout):
                return pid
            raise StackError(f"Kafka (pid {pid}) runs but does not answer; see {self.log_file}")
        for port in (self.port, self.controller_port, *(lst.port for lst in self.listeners)):
            if port_open(self.host, port):
                raise PortInUseError(
                    f"port {port} is in use by another process; choose other ports with "
                    "EMR_STREAMS_STACK_KAFKA_PORT / EMR_STREAMS_STACK_KAFKA_CONTROLLER_PORT")
        java = shutil.which("java")
        if java is None:
            raise MissingToolError("Java 17+ is needed to run Kafka; install a JRE")
        libs = self.ensure_jars()
        self._write_config()
        classpath = f"{libs}/*"
        self._format_storage(java, classpath)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        command = [
            java, f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp", classpath, _MAIN_CLASS, str(self._config),
        ]
        process = spawn_detached(command, log=self.home / "logs" / "stdout.log", cwd=self.home)
        self._pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"Kafka exited with code {process.returncode}; see "
                                 f"{self.home / 'logs'}")
            if cluster_ready(self.bootstrap_servers, timeout=2.0):
                logger.info("kafka ready on %s (pid %d)", self.bootstrap_servers, process.pid,
                            extra={"event": "kafka.ready"})
                return process.pid
            time.sleep(0.5)
        terminate(process.pid, timeout=10)
        raise StackError(f"Kafka did not answer within {timeout:.0f}s; see {self.log_file}")

    def stop(self, *, timeout: float = 60.0) -> bool:
        """Stop our broker (SIGTERM, then SIGKILL after *timeout*); return True if one ran."""
        pid = self.pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return False
        if terminate(pid, timeout=timeout, must_contain=str(self._config)):
            logger.warning("kafka did not stop within %.0fs and was killed", timeout,
                           extra={"event": "kafka.killed"})
        self._pid_file.unlink(missing_ok=True)
        return True

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        data = self.home / "data"
        clients = [f"PLAINTEXT://{self.host}:{self.port}",
                   *(f"{lst.name}://{self.host}:{lst.port}" for lst in self.listeners)]
        protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT",
                     *(f"{lst.name}:{lst.security_protocol}" for lst in self.listeners)]
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": ",".join([*clients, f"CONTROLLER://{self.host}:{self.controller_port}"]),
            "advertised.listeners": ",".join(clients),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": ",".join(protocols),
            "log.dirs": str(data),
            "num.partitions": "3",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            **self.properties,
        }
        self._config.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        (self.home / "log4j2.properties").write_text(_LOG4J2)

    def _format_storage(self, java: str, classpath: str) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        # Kafka's Uuid.randomUuid never begins with "-" (its tools would read it as an
        # option: "--cluster-id: expected one argument"); neither does this one.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            [java, "-cp", classpath, "-Dlog4j2.level=WARN", "kafka.tools.StorageTool", "format",
             "-t", cluster_id, "-c", str(self._config), *self.format_args],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise StackError(f"kafka storage format failed: {result.stdout}{result.stderr}")
