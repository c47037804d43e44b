"""Topic administration and cluster checks through confluent-kafka's AdminClient."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition

# NewTopic is public API; the stubs only miss it from __all__.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ClusterMetadata,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from streams.kafka.errors import KafkaAdminError, kafka_reason

__all__ = [
    "TopicSpec",
    "active_members",
    "check_reachable",
    "cluster_ready",
    "delete_topics",
    "describe_topics",
    "ensure_topics",
    "set_group_offsets",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TopicSpec:
    """What a topic the project uses must look like."""

    name: str
    partitions: int = 3
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def _admin(bootstrap_servers: str, extra: Mapping[str, str] | None = None, *,
           errors: list[KafkaError] | None = None) -> AdminClient:
    # log_level 0: connection failures surface as exceptions here, not as stderr noise;
    # *errors* collects what the client reports (TLS handshake, SASL authentication...).
    conf: dict[str, object] = {"bootstrap.servers": bootstrap_servers, "log_level": 0}
    if errors is not None:
        conf["error_cb"] = errors.append
    conf.update(extra or {})
    return AdminClient(conf)  # type: ignore[arg-type]  # the stubs omit callback values


def _metadata(admin: AdminClient, errors: list[KafkaError], bootstrap_servers: str,
              timeout: float) -> ClusterMetadata:
    """The cluster's metadata; KafkaAdminError with the client's own reason on failure.

    A metadata timeout alone says little; the reason it could not connect (certificate
    verify failed, SASL authentication failed...) is what an operator needs.
    """
    try:
        return admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        admin.poll(0)  # serve the error callbacks queued meanwhile
        reasons = [e.str() for e in errors if e.code() != KafkaError._ALL_BROKERS_DOWN]
        reason = reasons[-1] if reasons else kafka_reason(exc)
        raise KafkaAdminError(f"cannot reach Kafka at {bootstrap_servers}: {reason}") from exc


def check_reachable(bootstrap_servers: str, *, timeout: float,
                    client_config: Mapping[str, str] | None = None) -> None:
    """Return once a broker answers a metadata request; KafkaAdminError with the client's
    reason when none does within *timeout* seconds."""
    errors: list[KafkaError] = []
    _metadata(_admin(bootstrap_servers, client_config, errors=errors), errors,
              bootstrap_servers, timeout)


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


@dataclass(frozen=True)
class TopicState:
    """What a topic looks like on the cluster (None fields: the topic does not exist)."""

    name: str
    partitions: int | None
    replication_factor: int | None
    config: Mapping[str, str]


def describe_topics(bootstrap_servers: str, names: Iterable[str], *, timeout: float = 15.0,
                    client_config: Mapping[str, str] | None = None) -> list[TopicState]:
    """Partitions, replication factor and relevant config of each topic in *names*."""
    errors: list[KafkaError] = []
    admin = _admin(bootstrap_servers, client_config, errors=errors)
    metadata = _metadata(admin, errors, bootstrap_servers, timeout)
    states = []
    for name in names:
        info = metadata.topics.get(name)
        if info is None or info.error is not None:
            states.append(TopicState(name, None, None, {}))
            continue
        replicas = {len(p.replicas) for p in info.partitions.values()}
        resource = ConfigResource(ResourceType.TOPIC, name)
        try:
            entries = admin.describe_configs([resource])[resource].result(timeout=timeout)
        except KafkaException as exc:
            raise KafkaAdminError(f"cannot describe {name}: {exc}") from exc
        config = {k: str(v.value) for k, v in entries.items()
                  if k in {"cleanup.policy", "retention.ms", "min.compaction.lag.ms",
                           "min.insync.replicas"}}
        states.append(TopicState(name, len(info.partitions), min(replicas) if replicas else 0,
                                 config))
    return states


def active_members(bootstrap_servers: str, group_id: str, *, timeout: float = 15.0,
                   client_config: Mapping[str, str] | None = None) -> int:
    """How many members the consumer group has right now."""
    admin = _admin(bootstrap_servers, client_config)
    try:
        [future] = admin.describe_consumer_groups([group_id]).values()
        description = future.result(timeout=timeout)
    except KafkaException as exc:
        raise KafkaAdminError(f"cannot describe group {group_id}: {exc}") from exc
    return len(description.members)


def set_group_offsets(bootstrap_servers: str, group_id: str, topic: str,
                      offsets: Mapping[int, int], *, timeout: float = 15.0,
                      client_config: Mapping[str, str] | None = None) -> None:
    """Set the group's committed offsets of *topic* (the group must be empty)."""
    admin = _admin(bootstrap_servers, client_config)
    request = ConsumerGroupTopicPartitions(
        group_id, [TopicPartition(topic, p, o) for p, o in sorted(offsets.items())])
    try:
        for future in admin.alter_consumer_group_offsets([request]).values():
            future.result(timeout=timeout)
    except KafkaException as exc:
        raise KafkaAdminError(f"cannot reset offsets of {group_id}: {exc}") from exc
