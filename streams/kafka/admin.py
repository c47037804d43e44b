"""Topic administration and cluster checks through confluent-kafka's AdminClient."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException

# NewTopic is public API; the stubs only miss it from __all__.
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streams.kafka.errors import KafkaAdminError

__all__ = ["TopicSpec", "cluster_ready", "delete_topics", "ensure_topics"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TopicSpec:
    """What a topic the project uses must look like."""

    name: str
    partitions: int = 3
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def _admin(bootstrap_servers: str, extra: Mapping[str, str] | None = None) -> AdminClient:
    # log_level 0: connection failures surface as exceptions here, not as stderr noise.
    conf: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap_servers,
                                                 "log_level": 0}
    conf.update(extra or {})
    return AdminClient(conf)


def cluster_ready(bootstrap_servers: str, *, timeout: float = 5.0,
                  client_config: Mapping[str, str] | None = None) -> bool:
    """Tell whether a broker answers a metadata request within *timeout* seconds."""
    try:
        metadata = _admin(bootstrap_servers, client_config).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec], *,
                  timeout: float = 30.0,
                  client_config: Mapping[str, str] | None = None) -> list[str]:
    """Create the topics that do not exist yet; return the names created (idempotent)."""
    admin = _admin(bootstrap_servers, client_config)
    new = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor,
                    config=dict(s.config)) for s in specs]
    if not new:
        return []
    created: list[str] = []
    for name, future in admin.create_topics(new, operation_timeout=timeout,
                                            request_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise KafkaAdminError(f"cannot create topic {name}: {error}") from exc
        created.append(name)
        logger.info("created topic %s", name, extra={"event": "topic.created"})
    return created


def delete_topics(bootstrap_servers: str, names: Iterable[str], *, timeout: float = 30.0,
                  client_config: Mapping[str, str] | None = None) -> None:
    """Delete topics, ignoring the ones that do not exist."""
    admin = _admin(bootstrap_servers, client_config)
    names = list(names)
    if not names:
        return
    for name, future in admin.delete_topics(names, operation_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and \
                    error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            raise KafkaAdminError(f"cannot delete topic {name}: {error}") from exc
