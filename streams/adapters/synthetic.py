"""A synthetic EMR adapter: a steady, reproducible stream of task events for demos and tests."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from streams.contracts import DepartmentRef, PatientRef, TaskEvent, UserRef, encode_task_event
from streams.contracts.task_event import (
    EmrSystem,
    SourceSystem,
    TaskPriority,
    TaskStatus,
    UserRole,
)
from streams.kafka.producer import EventProducer

__all__ = ["SyntheticTaskSource", "run_adapter"]

_TITLES = ("Administer medication", "Check vitals", "Wound dressing", "Blood draw",
           "Discharge teaching", "Fall-risk assessment", "Verify EMR allergy list")
_NEXT_STATUS: dict[TaskStatus, TaskStatus] = {"PENDING": "IN_PROGRESS",
                                              "IN_PROGRESS": "COMPLETED"}
_SYSTEMS: tuple[SourceSystem, ...] = ("EPIC", "CERNER", "GENERIC_FHIR", "DEVICE")
_EMRS: tuple[EmrSystem, ...] = ("EPIC", "CERNER", "GENERIC_FHIR")
_DEPARTMENTS = (("ICU", "Intensive Care"), ("ER", "Emergency"), ("CARDIO", "Cardiology"),
                ("ONCO", "Oncology"), ("PEDS", "Paediatrics"))
_PRIORITIES: tuple[TaskPriority, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
_ROLES: tuple[UserRole, ...] = ("NURSE", "NURSE", "NURSE", "DOCTOR", "SUPERVISOR")


class SyntheticTaskSource:
    """Generates task events: new tasks, then status changes of the open ones.

    Departments, staff and patients come from fixed pools drawn from the seed, so the
    same ids recur with the same identity snapshots, as they would from a real EMR.
    """

    def __init__(self, *, seed: int | None = None, open_tasks: int = 200, staff: int = 40,
                 patients: int = 300) -> None:
        self._rng = random.Random(seed)
        self._open: dict[uuid.UUID, TaskEvent] = {}
        self._max_open = open_tasks
        self._departments = [DepartmentRef(id=self._uuid(), code=code, name=name)
                             for code, name in _DEPARTMENTS]
        self._staff = [UserRef(id=self._uuid(), username=f"staff{n:04d}",
                               display_name=f"Staff Member {n}", role=self._rng.choice(_ROLES))
                       for n in range(staff)]
        self._patients = []
        for n in range(patients):
            emr = self._rng.choice(_EMRS)
            self._patients.append(PatientRef(
                id=self._uuid(), mrn=f"MRN{self._rng.getrandbits(40):012d}"[:15],
                emr_system=emr, emr_id=f"{emr.lower()}-{n:06d}"))

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)

    def next_event(self) -> TaskEvent:
        """The next event: a status change 40% of the time when tasks are open."""
        now = datetime.now(UTC)
        if self._open and (len(self._open) >= self._max_open or self._rng.random() < 0.4):
            task_id = self._rng.choice(list(self._open))
            previous = self._open[task_id]
            status = _NEXT_STATUS[previous.status]
            event = previous.model_copy(update={
                "event_id": self._uuid(), "event_type": "task.status_changed",
                "occurred_at": now, "status": status,
                "assigned_to": previous.assigned_to or self._rng.choice(self._staff)})
            if status == "COMPLETED":
                del self._open[task_id]
            else:
                self._open[task_id] = event
            return event
        event = TaskEvent(
            event_id=self._uuid(), event_type="task.created", task_id=self._uuid(),
            occurred_at=now, title=self._rng.choice(_TITLES), status="PENDING",
            priority=self._rng.choice(_PRIORITIES), source_system=self._rng.choice(_SYSTEMS),
            department=self._rng.choice(self._departments),
            created_by=self._rng.choice(self._staff), patient=self._rng.choice(self._patients))
        self._open[event.task_id] = event
        return event

    def events(self, count: int) -> Iterator[TaskEvent]:
        for _ in range(count):
            yield self.next_event()


def run_adapter(producer: EventProducer, topic: str, source: SyntheticTaskSource, *,
                rate: float, limit: int | None = None, duration: float | None = None,
                should_stop: Callable[[], bool] = lambda: False) -> int:
    """Produce events at *rate* per second until *limit*, *duration* or *should_stop*.

    Events are keyed by task id, so every change of a task lands on one partition in
    order. Returns the number of events produced; raises ProduceError if any was not
    delivered.
    """
    started = time.monotonic()
    sent = 0
    while not should_stop():
        if limit is not None and sent >= limit:
            break
        elapsed = time.monotonic() - started
        if duration is not None and elapsed >= duration:
            break
        due = int(elapsed * rate) + 1 - sent
        if due <= 0:
            time.sleep(min(0.05, 1.0 / rate))
            continue
        for _ in range(due if limit is None else min(due, limit - sent)):
            event = source.next_event()
            producer.produce(topic, key=str(event.task_id).encode(),
                             value=encode_task_event(event))
            sent += 1
    producer.flush()
    return sent
