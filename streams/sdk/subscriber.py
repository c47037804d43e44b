"""The consumer SDK for downstream services: typed events, offsets committed after handling."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from streams.config import Settings
from streams.contracts.codec import AvroCodec
from streams.contracts.errors import DecodeError
from streams.contracts.models import AnyEvent, event_from_avro
from streams.kafka.consumer import RecordConsumer
from streams.kafka.schema_registry import codec_for
from streams.sink.records import ConsumedRecord
from streams.topology import input_topics

__all__ = ["EventSubscriber", "UndecodableMessageError"]

Handler = Callable[[AnyEvent, ConsumedRecord], None]
UndecodableHandler = Callable[[ConsumedRecord, DecodeError], None]


class UndecodableMessageError(DecodeError):
    """A message could not be decoded and no ``on_undecodable`` handler was given."""


class EventSubscriber:
    """Receive typed events as a member of a consumer group.

    A message's offset is committed only after *handler* returned for it; if the handler
    raises, the exception propagates and nothing past the previous message is committed
    (the message is delivered again to this group). An undecodable message is passed to
    *on_undecodable* (then committed); without one, ``run`` raises UndecodableMessageError
    and commits nothing for it: undecodable input is reported, never swallowed.
    """

    def __init__(self, settings: Settings, *, group_id: str,
                 topics: Sequence[str] | None = None, codec: AvroCodec | None = None,
                 on_undecodable: UndecodableHandler | None = None) -> None:
        self._codec = codec or codec_for(settings)
        self._on_undecodable = on_undecodable
        self._consumer = RecordConsumer(
            settings.librdkafka(), group_id=group_id,
            topics=list(topics or input_topics(settings)))

    def run(self, handler: Handler, *, max_events: int | None = None,
            idle_timeout: float | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> int:
        """Consume until *max_events*, *idle_timeout* seconds without a message, or stop.

        Returns the number of messages handled (events and undecodable ones).
        """
        handled = 0
        idle_since = time.monotonic()
        while not should_stop() and (max_events is None or handled < max_events):
            record = self._consumer.poll(0.5)
            if record is None:
                if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                    break
                continue
            idle_since = time.monotonic()
            try:
                decoded = self._codec.decode(record.value)
                event = event_from_avro(decoded.schema, decoded.record)
            except DecodeError as exc:
                if self._on_undecodable is None:
                    raise UndecodableMessageError(
                        f"{record.topic}[{record.partition}]@{record.offset}: {exc}") from exc
                self._on_undecodable(record, exc)
            else:
                handler(event, record)
            self._consumer.commit(record)
            handled += 1
        return handled

    def close(self) -> None:
        """Leave the group (committed offsets stay)."""
        self._consumer.close()
