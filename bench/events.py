"""The benchmark's workload: mixed task / handover / verification events, pre-encoded.

5% of the events are re-sent duplicates (producer retries) and 1% of task edits are
concurrent offline edits, as the benchmark issue asks.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streams.adapters.synthetic import SyntheticTaskSource
from streams.contracts import AvroCodec, SchemaCatalogue
from streams.contracts.models import (
    AnyEvent,
    HandedOverTask,
    HandoverEvent,
    HandoverInitiated,
    HandoverSnapshot,
    HybridTimestamp,
    ShiftSnapshot,
    TaskEvent,
    VerificationEvent,
    VerificationSnapshot,
    VerificationVerified,
)


@dataclass(frozen=True)
class Encoded:
    """One message to produce."""

    schema: str
    key: bytes
    value: bytes
    event_id: uuid.UUID


def workload(count: int, *, seed: int = 1) -> tuple[list[Encoded], int]:
    """*count* messages (duplicates included) and the number of distinct events."""
    rng = random.Random(seed + 1_000_003)  # not the adapter's sequence: ids must differ
    codec = AvroCodec(SchemaCatalogue())
    source = SyntheticTaskSource(seed=seed, concurrent_rate=0.01, open_tasks=2000)
    distinct = int(count / 1.05)
    events: list[AnyEvent] = []
    tasks: list[TaskEvent] = []
    t0 = datetime(2026, 11, 27, tzinfo=UTC)
    for n in range(distinct):
        roll = n % 20
        if tasks and roll == 7:
            base = rng.choice(tasks)
            events.append(VerificationEvent(
                event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                aggregate_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                occurred_at=base.occurred_at,
                hlc=HybridTimestamp(physical_us=base.hlc.physical_us, logical=n % 1000,
                                    node="emr-verifier"),
                vector_clock={"emr-verifier": n + 1}, origin_node="emr-verifier",
                source_system="EPIC", actor=base.actor,
                correlation_id=base.correlation_id,
                verification=VerificationSnapshot(task_id=base.aggregate_id, task=base.task,
                                                  emr_system="EPIC"),
                payload=VerificationVerified(verified_by=base.actor,
                                             verified_at=base.occurred_at)))
        elif tasks and roll == 13:
            base = rng.choice(tasks)
            start = t0 + timedelta(hours=8 * (n % 90))
            shift = ShiftSnapshot(id=uuid.UUID(int=n * 2 + 1, version=4),
                                  department=base.task.department, supervisor=base.actor,
                                  starts_at=start, ends_at=start + timedelta(hours=8))
            following = shift.model_copy(update={"id": uuid.UUID(int=n * 2 + 2, version=4),
                                                 "starts_at": shift.ends_at,
                                                 "ends_at": shift.ends_at + timedelta(hours=8)})
            events.append(HandoverEvent(
                event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                aggregate_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                occurred_at=base.occurred_at,
                hlc=HybridTimestamp(physical_us=base.hlc.physical_us, logical=n % 1000,
                                    node="handover-app"),
                vector_clock={"handover-app": n + 1}, origin_node="handover-app",
                source_system="DEVICE", actor=base.actor, correlation_id=base.correlation_id,
                handover=HandoverSnapshot(from_shift=shift, to_shift=following,
                                          initiated_by=base.actor),
                payload=HandoverInitiated(tasks=(HandedOverTask(
                    task_id=base.aggregate_id, patient=base.task.patient, status="PENDING"),))))
        else:
            event = source.next_event()
            tasks.append(event)
            if len(tasks) > 5000:
                tasks.pop(0)
            events.append(event)
    encoded = [Encoded(e.schema_name, str(e.aggregate_id).encode(),
                       codec.encode(e.schema_name, e.to_avro()), e.event_id) for e in events]
    duplicates = [rng.choice(encoded) for _ in range(count - len(encoded))]
    messages = encoded + duplicates
    rng.shuffle(messages)
    # Keep each aggregate's own events in generation order (as one adapter sends them):
    # the shuffle only interleaves aggregates and places the duplicates.
    return _stable_per_key(messages, encoded), len({m.event_id for m in encoded})


def _stable_per_key(shuffled: list[Encoded], ordered: list[Encoded]) -> list[Encoded]:
    position = {m.event_id: i for i, m in enumerate(ordered)}
    by_key: dict[bytes, list[Encoded]] = {}
    for m in shuffled:
        by_key.setdefault(m.key, []).append(m)
    for items in by_key.values():
        items.sort(key=lambda m: position[m.event_id])
    cursor = {k: 0 for k in by_key}
    out = []
    for m in shuffled:
        items = by_key[m.key]
        out.append(items[cursor[m.key]])
        cursor[m.key] += 1
    return out
