"""The poison-rate breaker: a defect that refuses every record pauses, it does not flood.

Records the database (or the merge) refuses on their own are dead-lettered. But when *every*
record is refused — a missing audit partition, a broken trigger, a revoked privilege that
surfaces as a refusal — dead-lettering would move the whole stream to the DLQ. The breaker
counts records refused at the apply stage since the last record that went through; once
the count reaches the threshold in a batch where nothing went through, that batch is not
dead-lettered: consumption of the topic pauses (``/readyz`` 503, the metric
``emr_streams_poison_breaker_open``), and the batch is tried again after a backoff until a
record goes through. Records that fail to decode are always the record's fault and never
count. At most *threshold* records reach the DLQ before the breaker opens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from streams.errors import StreamsError
from streams.metrics import BREAKER_OPEN

__all__ = ["PoisonBreaker", "ProcessorStoppedError"]

logger = logging.getLogger(__name__)


class ProcessorStoppedError(StreamsError):
    """The worker is stopping while a batch was held by the open breaker."""


class PoisonBreaker:
    """Counts consecutive apply-stage refusals; *threshold* 0 turns the breaker off."""

    def __init__(self, threshold: int, *, max_pause: float = 60.0,
                 on_change: Callable[[str | None], None] = lambda reason: None,
                 sleep: Callable[[float], object] | None = None) -> None:
        self.threshold = threshold
        self._max_pause = max_pause
        self._on_change = on_change
        self._refused = 0
        self._pause = 1.0
        self._open: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait

    def trips(self, topic: str, *, refused: int, through: int) -> bool:
        """Count a batch's outcome; True when it must not be dead-lettered (breaker open)."""
        with self._lock:
            if through:
                self._refused = 0
                if topic in self._open:
                    self._close(topic)
                return False
            if not self.threshold or not refused:
                return False
            if self._refused + refused < self.threshold:
                self._refused += refused
                return False
            if topic not in self._open:
                self._open.add(topic)
                reason = (f"{topic}: {self._refused + refused} records in a row refused at "
                          "the apply stage")
                logger.critical("poison-rate breaker open: %s; consumption paused, nothing "
                                "dead-lettered; the batch is retried (docs/failures.md)",
                                reason, extra={"event": "breaker.open"})
                BREAKER_OPEN.labels(topic).set(1)
                self._on_change(reason)
            return True

    def pause(self) -> None:
        """Wait before the held batch is tried again (backoff doubling to ``max_pause``).

        Raises ProcessorStoppedError once :meth:`stop` was called: the held batch is left
        unacknowledged for the next start.
        """
        self._sleep(self._pause)
        if self._stop.is_set():
            raise ProcessorStoppedError("the worker stopped while the breaker was open")
        self._pause = min(self._pause * 2, self._max_pause)

    def stop(self) -> None:
        """Wake a pause at shutdown."""
        self._stop.set()

    def _close(self, topic: str) -> None:
        self._open.discard(topic)
        self._pause = 1.0
        BREAKER_OPEN.labels(topic).set(0)
        logger.warning("poison-rate breaker closed: %s flows again", topic,
                       extra={"event": "breaker.closed"})
        if not self._open:
            self._on_change(None)
