"""The local stack as one unit: Kafka and PostgreSQL started, checked and stopped together."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from streams.config import StackSettings
from streams.devstack.kafka import KAFKA_VERSION, KafkaNode
from streams.devstack.postgres import PostgresNode

__all__ = ["LocalStack", "StackStatus"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackStatus:
    """What runs, where."""

    kafka_pid: int | None
    kafka_bootstrap: str
    kafka_version: str
    postgres_pid: int | None
    database_url: str

    @property
    def running(self) -> bool:
        return self.kafka_pid is not None and self.postgres_pid is not None


class LocalStack:
    """Kafka (KRaft) and PostgreSQL as local processes under one state directory."""

    def __init__(self, settings: StackSettings) -> None:
        home = settings.dir.resolve()
        self.kafka = KafkaNode(home=home / "kafka", jar_cache=settings.jar_cache.resolve(),
                               port=settings.kafka_port,
                               controller_port=settings.kafka_controller_port,
                               heap=settings.kafka_heap)
        self.postgres = PostgresNode(home=home / "postgres", port=settings.postgres_port,
                                     database=settings.database)

    def up(self, *, kafka: bool = True, postgres: bool = True) -> StackStatus:
        """Start what is not running yet (idempotent) and wait until it answers."""
        if postgres:
            self.postgres.start()
        if kafka:
            self.kafka.start()
        return self.status()

    def down(self) -> StackStatus:
        """Stop both servers; safe to call when they are already stopped."""
        self.kafka.stop()
        self.postgres.stop()
        return self.status()

    def status(self) -> StackStatus:
        """Report what runs."""
        return StackStatus(kafka_pid=self.kafka.pid(),
                           kafka_bootstrap=self.kafka.bootstrap_servers,
                           kafka_version=KAFKA_VERSION, postgres_pid=self.postgres.pid(),
                           database_url=self.postgres.url())
