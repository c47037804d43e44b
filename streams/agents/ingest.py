"""The ingest agents: one per input topic; batches applied, then acknowledged."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable

import faust

from streams.config import Settings
from streams.sink.processor import BatchProcessor
from streams.sink.records import ConsumedRecord, normalize_headers

__all__ = ["register_ingest_agent"]

logger = logging.getLogger(__name__)

#: If the worker has not exited this long after an agent crash, end the process.
_CRASH_GRACE_SECONDS = 30.0


def _record(event: faust.EventT[bytes]) -> ConsumedRecord:
    message = event.message
    return ConsumedRecord(
        topic=message.topic, partition=message.partition, offset=message.offset,
        key=message.key, value=message.value, headers=normalize_headers(message.headers),
        timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None)


def _exit_if_stuck() -> None:
    time.sleep(_CRASH_GRACE_SECONDS)
    logger.critical("worker did not stop %.0fs after an agent crash; exiting",
                    _CRASH_GRACE_SECONDS, extra={"event": "worker.forced_exit"})
    os._exit(70)


def register_ingest_agent(app: faust.App, settings: Settings, topic_name: str,
                          processor: BatchProcessor, *,
                          on_crash: Callable[[str], None] = lambda reason: None) -> None:
    """Attach the agent of *topic_name* to *app*.

    Offsets are committed only after the batch's transaction committed: the agent reads
    with ``noack_take`` and acknowledges each event itself, after ``processor.process``
    returned (faust's ``take`` would acknowledge a batch whose processing raised: a silent
    skip). An exception crashes the worker (``CrashingSupervisor``; nothing of the batch is
    acknowledged, so it is read again after the restart); a watchdog ends the process if
    faust's shutdown hangs.
    """
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    size = settings.processor.batch_size
    within = settings.processor.batch_timeout

    @app.agent(topic, name=f"emr-streams.ingest.{topic_name}", concurrency=1)
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        # Acks off for the stream's whole life, not only inside noack_take: its ``finally``
        # restores the flag it found, and with acks on again the stream acknowledges every
        # event that still flows in while a crashed agent shuts down -- offsets committed
        # for records never applied (a test saw 154 committed of 150). Events are acked
        # below, one by one, after their batch committed; Event.ack ignores this flag.
        stream.enable_acks = False
        try:
            # noack_take is on faust.Stream, not on the StreamT protocol it is typed as.
            async for events in stream.noack_take(size, within=within):  # type: ignore[attr-defined]
                batch = [_record(e) for e in events]
                outcome = await asyncio.to_thread(processor.process, batch)
                for event in events:
                    event.ack()
                logger.debug("%s: batch of %d: %d applied, %d stale, %d concurrent, "
                             "%d duplicate, %d dead-lettered", topic_name, len(batch),
                             outcome.applied, outcome.stale, outcome.concurrent,
                             outcome.duplicates, len(outcome.poison),
                             extra={"event": "batch.committed"})
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            logger.exception("agent for %s crashed; the worker stops without acknowledging "
                             "the current batch", topic_name, extra={"event": "agent.crashed"})
            on_crash(f"{topic_name}: {type(exc).__name__}")
            threading.Thread(target=_exit_if_stuck, daemon=True).start()
            raise
