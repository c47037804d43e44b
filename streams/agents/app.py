"""Build the faust application from the settings (no import-time side effects)."""

from __future__ import annotations

from typing import Any

import faust
import mode

from streams.agents.credentials import broker_credentials
from streams.config import Settings

__all__ = ["create_app"]


def create_app(settings: Settings) -> faust.App:
    """A faust app whose consumer group is ``settings.kafka.group_id``.

    * ``agent_supervisor=CrashingSupervisor``: an agent error stops the worker (exit 1)
      instead of restarting the agent, which would ack and skip the failed events;
    * topics are created by ``emr-streams topics create``, never by faust;
    * no leader topic, no tables, no web server: nothing but consumption;
    * the group session: ``EMR_STREAMS_KAFKA_SESSION_TIMEOUT`` (10 s, not faust's 60 s: a
      killed worker's partitions move on within seconds) and, with
      ``EMR_STREAMS_KAFKA_GROUP_INSTANCE_ID``, static membership (a restart rejoins at once);
    * ``broker_credentials`` from the ``EMR_STREAMS_KAFKA_SSL_*`` / ``_SASL_*`` settings, the
      same the confluent clients get from ``Settings.librdkafka()``;
    * faust's data folder (``<group id>-data``) is in the working directory, except in the
      local profile, where it goes under the stack folder instead of the source tree.
    """
    brokers = [f"kafka://{host.strip()}" for host in settings.bootstrap_servers.split(",")]
    extra: dict[str, Any] = {}
    if settings.local:
        folder = settings.stack.dir / "faust"
        folder.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
        extra["datadir"] = str(folder / "{conf.name}-data")
    return faust.App(
        settings.kafka.group_id,
        broker=brokers,
        broker_credentials=broker_credentials(settings.kafka),
        store="memory://",
        autodiscover=False,
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=False,
        agent_supervisor=mode.CrashingSupervisor,
        broker_commit_interval=settings.processor.commit_interval,
        broker_session_timeout=settings.kafka.session_timeout,
        broker_heartbeat_interval=settings.kafka.heartbeat_interval,
        consumer_group_instance_id=settings.kafka.group_instance_id,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=True,
        **extra,
    )
