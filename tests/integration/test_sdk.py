"""The SDK through the real broker: adapter → Kafka → processor and downstream consumers."""

from __future__ import annotations

import uuid

import pytest

from streams.config import Settings
from streams.contracts.models import AnyEvent, TaskCreated, TaskStatusChanged
from streams.kafka.producer import EventProducer
from streams.sdk import EventPublisher, EventSubscriber, UndecodableMessageError
from streams.sink import ConsumedRecord
from tests.fixtures.processor import ProcessorFactory, wait_for
from tests.integration.helpers import count
from tests.unit.events_fixtures import (
    HANDOVER,
    HANDOVER_PAYLOADS,
    NURSE,
    TASK,
    TASK_PAYLOADS,
    VERIFICATION,
    VERIFICATION_PAYLOADS,
)

pytestmark = pytest.mark.integration


def _publish_every_type(settings: Settings) -> list[AnyEvent]:
    published: list[AnyEvent] = []
    with EventPublisher(settings, node="tablet-9", source_system="DEVICE") as publisher:
        task_id, handover_id, verification_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        clock: dict[str, int] = {}
        for payload in TASK_PAYLOADS:
            event = publisher.task(task_id, task=TASK, payload=payload, actor=NURSE, seen=clock)
            clock = event.vector_clock
            published.append(event)
        for payload in HANDOVER_PAYLOADS:
            published.append(publisher.handover(handover_id, handover=HANDOVER, payload=payload,
                                                actor=NURSE))
        for payload in VERIFICATION_PAYLOADS:
            published.append(publisher.verification(verification_id, verification=VERIFICATION,
                                                    payload=payload, actor=NURSE))
    return published


def test_sdk_producer_to_sdk_consumer(emr_settings: Settings, group_id: str) -> None:
    published = _publish_every_type(emr_settings)
    received: dict[uuid.UUID, AnyEvent] = {}
    subscriber = EventSubscriber(emr_settings, group_id=group_id)
    try:
        handled = subscriber.run(lambda e, _r: received.__setitem__(e.event_id, e),
                                 max_events=len(published), idle_timeout=30)
    finally:
        subscriber.close()
    assert handled == len(published)
    assert received == {e.event_id: e for e in published}
    # Per aggregate, the clocks the SDK stamped only move forward.
    tasks = [e for e in published if e.schema_name == "task_event"]
    counters = [e.vector_clock["tablet-9"] for e in tasks]
    assert counters == sorted(counters) and len(set(counters)) == len(counters)
    # Offsets were committed: the group has nothing left to read.
    again = EventSubscriber(emr_settings, group_id=group_id)
    try:
        assert again.run(lambda e, r: None, idle_timeout=5) == 0
    finally:
        again.close()


def test_a_failing_handler_commits_nothing_for_its_event(emr_settings: Settings,
                                                         group_id: str) -> None:
    published = _publish_every_type(emr_settings)
    first = published[0]

    def explode(event: AnyEvent, record: ConsumedRecord) -> None:
        raise RuntimeError("downstream database down")

    subscriber = EventSubscriber(emr_settings, group_id=group_id,
                                 topics=[emr_settings.kafka.tasks_topic])
    try:
        with pytest.raises(RuntimeError):
            subscriber.run(explode, idle_timeout=30)
    finally:
        subscriber.close()
    seen: list[AnyEvent] = []
    again = EventSubscriber(emr_settings, group_id=group_id,
                            topics=[emr_settings.kafka.tasks_topic])
    try:
        again.run(lambda e, r: seen.append(e), max_events=1, idle_timeout=30)
    finally:
        again.close()
    assert seen == [first]


def test_undecodable_messages_are_reported_not_swallowed(emr_settings: Settings,
                                                         group_id: str) -> None:
    producer = EventProducer(emr_settings.librdkafka())
    producer.produce(emr_settings.kafka.tasks_topic, key=b"k", value=b"\xc3\x01garbage!")
    producer.flush()
    topics = [emr_settings.kafka.tasks_topic]
    for _ in range(2):  # not committed: the second subscriber meets it again
        subscriber = EventSubscriber(emr_settings, group_id=group_id, topics=topics)
        try:
            with pytest.raises(UndecodableMessageError, match="fingerprint"):
                subscriber.run(lambda e, r: None, idle_timeout=30)
        finally:
            subscriber.close()
    reported: list[tuple[int, str]] = []
    subscriber = EventSubscriber(
        emr_settings, group_id=group_id, topics=topics,
        on_undecodable=lambda r, exc: reported.append((r.offset, type(exc).__name__)))
    try:
        assert subscriber.run(lambda e, r: None, max_events=1, idle_timeout=30) == 1
    finally:
        subscriber.close()
    assert reported == [(0, "UnknownSchemaError")]


def test_the_processor_applies_what_an_sdk_adapter_publishes(
        emr_settings: Settings, processor_factory: ProcessorFactory) -> None:
    task_id = uuid.uuid4()
    with EventPublisher(emr_settings, node="epic-adapter-1", source_system="EPIC") as publisher:
        created = publisher.task(task_id, task=TASK, payload=TaskCreated(status="PENDING"),
                                 actor=NURSE)
        publisher.task(task_id, task=TASK, payload=TaskStatusChanged(status="IN_PROGRESS"),
                       actor=NURSE, seen=created.vector_clock)
    processor = processor_factory.start()
    url = emr_settings.database_url
    wait_for(lambda: count(url, "processed_events") == 2, timeout=90,
             what="both events applied", on_timeout=processor.output)
    assert processor.stop() == 0, processor.output()
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status::text, vector_clock, origin_node FROM tasks "
                           "WHERE id = %s", (task_id,)).fetchone()
    assert row == ("IN_PROGRESS", {"epic-adapter-1": 2}, "epic-adapter-1")
