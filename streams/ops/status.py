"""One screen of the pipeline's health: throughput, lag, dead letters, recent errors, database."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from streams.config import Settings
from streams.db.partitions import partition_months_ahead
from streams.kafka.admin import check_reachable
from streams.kafka.errors import KafkaLayerError
from streams.kafka.offsets import group_lag
from streams.kafka.reader import PartitionRange, RangeReader
from streams.sink.dead_letter import parse_letter
from streams.topology import dead_letter_topic, input_topics

__all__ = ["TopicStatus", "collect_status"]


@dataclass
class TopicStatus:
    """One input topic: lag of the group, dead letters, the latest reasons."""

    topic: str
    lag: int | None = None
    dead_letters: int | None = None
    recent_errors: list[str] = field(default_factory=list)


@dataclass
class Status:
    """The whole picture."""

    database_ok: bool
    database_error: str | None
    applied_last_minute: int | None
    applied_last_5_minutes: int | None
    events_total: int | None
    outbox_pending: int | None
    outbox_set_aside: int | None
    dead_lettered: int | None
    topics: list[TopicStatus]
    #: Months of audit partitions beyond the current one (None: TimescaleDB or unknown).
    audit_partitions_ahead: int | None = None
    #: Why Kafka did not answer (None: it did).
    kafka_error: str | None = None


def _recent_reasons(settings: Settings, dlq: str, limit: int = 3) -> tuple[int, list[str]]:
    with RangeReader(settings.librdkafka(), dlq) as reader:
        total, ranges = 0, []
        for p in reader.partitions():
            low, high = reader.watermarks(p)
            total += high - low
            ranges.append(PartitionRange(p, max(low, high - limit), high))
        reasons = []
        for batch in reader.read(ranges, idle_seconds=3):
            for record in batch:
                reason = parse_letter(record).reason or "?"
                reasons.append(f"@{record.offset}: {reason}")
    return total, reasons[-limit:]


def collect_status(settings: Settings) -> Status:
    """Gather the status; each part that cannot be had is reported, never fatal."""
    db_ok, db_error = True, None
    minute = five = total = pending = set_aside = lettered = partitions = None
    try:
        with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE processed_at > emr_now() - interval '1 minute'),"
                " count(*) FILTER (WHERE processed_at > emr_now() - interval '5 minutes'), "
                "count(*), "
                "(SELECT count(*) FROM state_outbox WHERE set_aside_at IS NULL), "
                "(SELECT count(*) FROM state_outbox WHERE set_aside_at IS NOT NULL), "
                "(SELECT count(*) FROM dead_letters) FROM processed_events"
            ).fetchone()
            if row is not None:
                minute, five, total, pending, set_aside, lettered = (int(v) for v in row)
            partitions = partition_months_ahead(conn)
    except psycopg.Error as exc:
        db_ok, db_error = False, " ".join(str(exc).split())
    topics = []
    try:
        check_reachable(settings.bootstrap_servers, timeout=min(5.0, settings.command.timeout),
                        client_config=settings.librdkafka())
    except KafkaLayerError as exc:
        return Status(db_ok, db_error, minute, five, total, pending, set_aside, lettered,
                      [TopicStatus(t) for t in input_topics(settings)], partitions,
                      kafka_error=str(exc))
    for topic in input_topics(settings):
        status = TopicStatus(topic)
        try:
            status.lag = sum(p.lag for p in group_lag(settings.librdkafka(),
                                                      settings.kafka.group_id, topic,
                                                      timeout=5))
        except KafkaLayerError as exc:
            status.recent_errors.append(f"lag unavailable: {exc}")
        try:
            status.dead_letters, reasons = _recent_reasons(settings, dead_letter_topic(topic))
            status.recent_errors.extend(reasons)
        except KafkaLayerError as exc:
            status.recent_errors.append(f"dead letters unavailable: {exc}")
        topics.append(status)
    return Status(db_ok, db_error, minute, five, total, pending, set_aside, lettered, topics,
                  partitions)
