"""The producer SDK for adapters: typed events in, Avro on the right topic out."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeVar

from pydantic import BaseModel

from streams.config import Settings
from streams.contracts.codec import AvroCodec
from streams.contracts.models import (
    AnyEvent,
    HandoverEvent,
    HandoverPayload,
    HandoverSnapshot,
    TaskEvent,
    TaskPayload,
    TaskSnapshot,
    UserSnapshot,
    VerificationEvent,
    VerificationPayload,
    VerificationSnapshot,
)
from streams.kafka.producer import EventProducer
from streams.kafka.schema_registry import codec_for
from streams.phi import PhiSealer
from streams.registry import by_schema
from streams.sdk.clock_keeper import ClockKeeper

__all__ = ["EventPublisher", "topic_for"]

E = TypeVar("E", TaskEvent, HandoverEvent, VerificationEvent)


def topic_for(settings: Settings, event: AnyEvent | type[AnyEvent]) -> str:
    """The input topic of an event's aggregate."""
    return by_schema(event.schema_name).input_topic(settings)


class EventPublisher:
    """Publish domain events; the SDK fills ids, clocks and keys.

    Each ``task``/``handover``/``verification`` call stamps a new event with a fresh
    ``event_id``, the node's HLC and vector clock (kept across restarts with
    *clock_file*), encodes it (Avro single-object encoding, or Confluent framing when a
    schema registry is configured), keys it by aggregate id (one aggregate's changes stay
    in order), seals its PHI fields (when a keyring is configured: *phi*, by default
    from the ``EMR_STREAMS_PHI_*`` settings; docs/security.md) and hands it to an
    idempotent producer (``enable.idempotence``,
    ``acks=all``). ``flush()`` (also on leaving a ``with`` block) raises ProduceError if
    any event was not delivered: the caller must then re-publish the same events.
    """

    def __init__(self, settings: Settings, *, node: str, source_system: str,
                 clock_file: Path | None = None, codec: AvroCodec | None = None,
                 phi: PhiSealer | Literal["settings"] | None = "settings") -> None:
        self._settings = settings
        self._phi = PhiSealer.from_settings(settings) if phi == "settings" else phi
        self.node = node
        self.source_system = source_system
        self.clock = ClockKeeper(node, state_file=clock_file)
        self._codec = codec or codec_for(settings)
        self._producer = EventProducer(settings.librdkafka())

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.flush()

    @property
    def delivered(self) -> int:
        return self._producer.delivered

    def _stamp(self, cls: type[E], *, aggregate_id: uuid.UUID, actor: UserSnapshot,
               snapshot: BaseModel, payload: BaseModel, seen: Mapping[str, int] | None,
               correlation_id: uuid.UUID | None, causation_id: uuid.UUID | None) -> E:
        hlc, vector_clock = self.clock.stamp(seen=seen)
        event = cls.model_validate({
            "event_id": uuid.uuid4(), "aggregate_id": aggregate_id,
            "occurred_at": datetime.fromtimestamp(hlc.physical_us / 1e6, UTC), "hlc": hlc,
            "vector_clock": vector_clock, "origin_node": self.node,
            "source_system": self.source_system, "actor": actor,
            "correlation_id": correlation_id or uuid.uuid4(), "causation_id": causation_id,
            cls.snapshot_field: snapshot, "payload": payload})
        self.publish(event)
        return event

    def task(self, aggregate_id: uuid.UUID, *, task: TaskSnapshot, payload: TaskPayload,
             actor: UserSnapshot, seen: Mapping[str, int] | None = None,
             correlation_id: uuid.UUID | None = None,
             causation_id: uuid.UUID | None = None) -> TaskEvent:
        """Publish a change to task *aggregate_id*; *seen* is the task's clock as known here."""
        return self._stamp(TaskEvent, aggregate_id=aggregate_id, actor=actor, snapshot=task,
                           payload=payload, seen=seen, correlation_id=correlation_id,
                           causation_id=causation_id)

    def handover(self, aggregate_id: uuid.UUID, *, handover: HandoverSnapshot,
                 payload: HandoverPayload, actor: UserSnapshot,
                 seen: Mapping[str, int] | None = None, correlation_id: uuid.UUID | None = None,
                 causation_id: uuid.UUID | None = None) -> HandoverEvent:
        """Publish a change to handover *aggregate_id*."""
        return self._stamp(HandoverEvent, aggregate_id=aggregate_id, actor=actor,
                           snapshot=handover, payload=payload, seen=seen,
                           correlation_id=correlation_id, causation_id=causation_id)

    def verification(self, aggregate_id: uuid.UUID, *, verification: VerificationSnapshot,
                     payload: VerificationPayload, actor: UserSnapshot,
                     seen: Mapping[str, int] | None = None,
                     correlation_id: uuid.UUID | None = None,
                     causation_id: uuid.UUID | None = None) -> VerificationEvent:
        """Publish a change to EMR verification *aggregate_id*."""
        return self._stamp(VerificationEvent, aggregate_id=aggregate_id, actor=actor,
                           snapshot=verification, payload=payload, seen=seen,
                           correlation_id=correlation_id, causation_id=causation_id)

    def publish(self, event: AnyEvent) -> None:
        """Encode and queue an already stamped event (e.g. a re-publish after a failure);
        its PHI is sealed first when a keyring is configured."""
        if self._phi is not None:
            event = self._phi.seal(event)
        value = self._codec.encode(event.schema_name, event.to_avro())
        self._producer.produce(topic_for(self._settings, event),
                               key=str(event.aggregate_id).encode(), value=value,
                               headers=[("event_type", event.event_type.encode())])

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every queued event; raise ProduceError if any was not delivered."""
        self._producer.flush(timeout)
