"""A synthetic EMR adapter: a steady, reproducible stream of task events for demos and tests.

Written only against the SDK (models, ClockKeeper, EventPublisher), as a real adapter is.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streams import clock
from streams.contracts.identity import identity_id
from streams.contracts.models import (
    DepartmentSnapshot,
    EmrSystem,
    PatientSnapshot,
    SourceSystem,
    TaskAssigned,
    TaskCompleted,
    TaskCreated,
    TaskEvent,
    TaskPayload,
    TaskPriority,
    TaskSnapshot,
    TaskStatusChanged,
    TaskUpdated,
    UserRole,
    UserSnapshot,
)
from streams.sdk.clock_keeper import ClockKeeper
from streams.sdk.publisher import EventPublisher

__all__ = ["SyntheticTaskSource", "run_adapter"]

_TITLES = ("Administer medication", "Check vitals", "Wound dressing", "Blood draw",
           "Discharge teaching", "Fall-risk assessment", "Verify EMR allergy list")
_SYSTEMS: tuple[SourceSystem, ...] = ("EPIC", "CERNER", "GENERIC_FHIR", "DEVICE")
_DEPARTMENTS = (("ICU", "Intensive Care"), ("ER", "Emergency"), ("CARDIO", "Cardiology"),
                ("ONCO", "Oncology"), ("PEDS", "Paediatrics"))
_ROLES: tuple[UserRole, ...] = ("NURSE", "NURSE", "NURSE", "DOCTOR", "SUPERVISOR")
_PRIORITIES: tuple[TaskPriority, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
_EMRS: tuple[EmrSystem, ...] = ("EPIC", "CERNER", "GENERIC_FHIR")


@dataclass
class _OpenTask:
    snapshot: TaskSnapshot
    status: str
    clock: dict[str, int]
    previous_clock: dict[str, int]
    source: SourceSystem


class SyntheticTaskSource:
    """Generates task events: creations, then updates, assignments and status changes.

    Departments, staff and patients come from fixed pools, so the same ids recur with the
    same identity snapshots, as they would from a real EMR; department and staff ids
    are the canonical ids of their code and username (``streams.contracts.identity``).
    With *concurrent_rate* > 0 a share of the edits comes from a second node ("offline
    tablet") that has not seen the task's latest change: a concurrent edit the processor
    must merge.
    """

    def __init__(self, *, seed: int | None = None, open_tasks: int = 200, staff: int = 40,
                 patients: int = 300, concurrent_rate: float = 0.0,
                 node: str = "synthetic-adapter") -> None:
        self._rng = random.Random(seed)
        self._open: dict[uuid.UUID, _OpenTask] = {}
        self._max_open = open_tasks
        self._concurrent_rate = concurrent_rate
        self._clock = ClockKeeper(node)
        self._tablet = ClockKeeper(f"{node}-tablet")
        # Departments and staff recur across runs (the same codes and usernames): their ids
        # are derived from those natural keys, so two runs, or two adapters, agree on them.
        self._departments = [DepartmentSnapshot(id=identity_id("department", code), code=code,
                                                name=name) for code, name in _DEPARTMENTS]
        self._staff = [UserSnapshot(id=identity_id("user", f"staff{n:04d}"),
                                    username=f"staff{n:04d}",
                                    display_name=f"Staff Member {n}",
                                    role=self._rng.choice(_ROLES)) for n in range(staff)]
        # Patients are new in every run (random MRNs); their ids are the run's own, never
        # derived from an MRN (an id travels in clear, even when PHI is sealed).
        self._patients = []
        for n in range(patients):
            emr = self._rng.choice(_EMRS)
            self._patients.append(PatientSnapshot(
                id=self._uuid(), mrn=f"MRN{self._rng.getrandbits(40):012d}"[:15],
                emr_system=emr, emr_id=f"{emr.lower()}-{n:06d}"))

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)

    def _event(self, task_id: uuid.UUID, task: _OpenTask, payload: TaskPayload, *,
               concurrent: bool = False) -> TaskEvent:
        keeper = self._tablet if concurrent else self._clock
        seen = task.previous_clock if concurrent else task.clock
        hlc, clock = keeper.stamp(seen=seen)
        event = TaskEvent(
            event_id=self._uuid(), aggregate_id=task_id,
            occurred_at=datetime.fromtimestamp(hlc.physical_us / 1e6, UTC), hlc=hlc,
            vector_clock=clock, origin_node=keeper.node, source_system=task.source,
            actor=self._rng.choice(self._staff), correlation_id=self._uuid(),
            task=task.snapshot, payload=payload)
        if not concurrent:
            task.previous_clock, task.clock = task.clock, clock
        return event

    def next_event(self) -> TaskEvent:
        """The next event: a change of an open task 40% of the time, else a new task."""
        if self._open and (len(self._open) >= self._max_open or self._rng.random() < 0.4):
            return self._change(self._rng.choice(list(self._open)))
        task_id = self._uuid()
        snapshot = TaskSnapshot(
            patient=self._rng.choice(self._patients),
            department=self._rng.choice(self._departments),
            created_by=self._rng.choice(self._staff), title=self._rng.choice(_TITLES),
            priority=self._rng.choice(_PRIORITIES),
            created_at=clock.now())
        task = _OpenTask(snapshot, "PENDING", {}, {}, self._rng.choice(_SYSTEMS))
        self._open[task_id] = task
        return self._event(task_id, task, TaskCreated(
            status="PENDING", due_at=clock.now() + timedelta(hours=4),
            emr_system=task.snapshot.patient.emr_system))

    def _change(self, task_id: uuid.UUID) -> TaskEvent:
        task = self._open[task_id]
        if task.clock and self._rng.random() < self._concurrent_rate:
            return self._event(task_id, task, TaskUpdated(
                priority=self._rng.choice(_PRIORITIES)), concurrent=True)
        roll = self._rng.random()
        if roll < 0.15:
            return self._event(task_id, task, TaskAssigned(
                assigned_to=self._rng.choice(self._staff)))
        if roll < 0.25:
            return self._event(task_id, task, TaskUpdated(
                priority=self._rng.choice(_PRIORITIES)))
        if task.status == "PENDING":
            task.status = "IN_PROGRESS"
            return self._event(task_id, task, TaskStatusChanged(status="IN_PROGRESS"))
        del self._open[task_id]
        return self._event(task_id, task, TaskCompleted(completed_at=clock.now()))

    def events(self, count: int) -> Iterator[TaskEvent]:
        for _ in range(count):
            yield self.next_event()


def run_adapter(publisher: EventPublisher, source: SyntheticTaskSource, *, rate: float,
                limit: int | None = None, duration: float | None = None,
                should_stop: Callable[[], bool] = lambda: False) -> int:
    """Publish events at *rate* per second until *limit*, *duration* or *should_stop*.

    Returns the number of events published; raises ProduceError if any was not delivered.
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
            publisher.publish(source.next_event())
            sent += 1
    publisher.flush()
    return sent
