"""Apply a batch of events to PostgreSQL in one transaction, idempotently.

The one apply path: the faust agents, the operator's replay and the tests call
``apply_batch``. In one transaction it

1. claims each new ``event_id`` in ``processed_events`` (a duplicate claims nothing and
   changes nothing);
2. resolves the identities the events' snapshots name to one id per natural key and
   creates the departments, users, patients, shifts and tasks missing, and each
   aggregate's row from its snapshot, so no event waits for another topic
   (``identities``);
3. locks the batch's rows (in id order) and merges the events into them (``merge``:
   per-field last writer wins on the HLC, monotone status, vector clocks merged; concurrent
   edits recorded in ``conflicts``);
4. writes one ``audit_logs`` row per new event, and the merged state of every changed
   aggregate to ``state_outbox`` for the state topics;
5. merges the identity attributes of the batch's snapshots (per-field last writer wins).

Every statement covers the whole batch (``unnest`` of arrays): the round trips of a batch
do not grow with its size. Undecodable records are returned as poison for the caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from streams.contracts import DecodeError
from streams.contracts.clocks import Ordering
from streams.contracts.codec import AvroCodec
from streams.contracts.models import AnyEvent, event_from_avro
from streams.failures import Scope, classify, describe
from streams.phi import PhiSealer
from streams.sink import _sql
from streams.sink.aggregates import TASKS, AggregateSpec, spec_for, task_refs
from streams.sink.identities import IdentityBatch, canonical_event
from streams.sink.merge import Row, jsonable, merge_event
from streams.sink.records import ConsumedRecord, Poison
from streams.sink.state import state_document, without_plaintext_phi
from streams.sink.stored import bounded, oversized_state

__all__ = ["BatchOutcome", "apply_batch", "apply_events", "collect_identities", "decode_records",
           "write_identities"]

Conn = psycopg.Connection[tuple[Any, ...]]
_EMRS = frozenset({"EPIC", "CERNER", "GENERIC_FHIR"})
_RULE = "per-field last writer wins on (HLC, node); higher-ranked status wins"
_REFS_RULE = "the earliest snapshot (by HLC) names an aggregate's references"


@dataclass
class BatchOutcome:
    """What one batch did; ``total`` equals the number of records given."""

    applied: int = 0
    stale: int = 0
    concurrent: int = 0
    duplicates: int = 0
    poison: list[Poison] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.applied + self.stale + self.concurrent + self.duplicates + len(self.poison)

    def add(self, other: BatchOutcome) -> None:
        self.applied += other.applied
        self.stale += other.stale
        self.concurrent += other.concurrent
        self.duplicates += other.duplicates
        self.poison.extend(other.poison)


def decode_records(codec: AvroCodec, records: Sequence[ConsumedRecord], outcome: BatchOutcome,
                   *, phi: PhiSealer | None = None) -> list[tuple[ConsumedRecord, AnyEvent]]:
    """Decode *records* (and open their sealed PHI when *phi* is given); the records that
    do not decode or open are added to *outcome* as poison.

    Whatever one record raises here is that record's (``streams.failures``): it becomes
    poison with a reason that quotes no value. Only an error of the process (an interrupt,
    memory) propagates.
    """
    decoded = []
    for record in records:
        stage = "decode"
        try:
            result = codec.decode(record.value)
            event = event_from_avro(result.schema, result.record)
            if record.key is not None and record.key != str(event.aggregate_id).encode():
                raise DecodeError("message key is not the event's aggregate_id")
            if phi is not None:
                stage = "decrypt"
                event = phi.open(event)
        except Exception as exc:
            if classify(exc) is not Scope.RECORD:
                raise
            outcome.poison.append(Poison(record, describe(exc), type(exc).__name__, stage))
            continue
        decoded.append((record, event))
    return decoded


def apply_batch(conn: Conn, records: Sequence[ConsumedRecord], *,
                codec: AvroCodec, phi: PhiSealer | None = None,
                plaintext_phi: bool = False) -> BatchOutcome:
    """Decode *records* and apply them in one transaction on *conn*; return what happened.

    Sealed PHI is stored sealed unless *phi* is given (``EMR_STREAMS_PHI_OPEN_IN_SINK``):
    then it is opened first, and a record whose PHI does not open is poison. PHI in plain
    text reaches the state topics and conflict rows only with *plaintext_phi*
    (``EMR_STREAMS_PHI_PUBLISH_PLAINTEXT``); otherwise they hold null in its place.

    Raises what the database or the merge raised when the batch cannot be applied: nothing
    of it was committed, and the caller decides (``streams.failures``: retry a transient
    error, isolate the record behind a record error). Never acknowledge a record before
    this returned.
    """
    outcome = BatchOutcome()
    decoded = decode_records(codec, records, outcome, phi=phi)
    outcome.add(apply_events(conn, decoded, plaintext_phi=plaintext_phi))
    return outcome


def apply_events(conn: Conn, decoded: Sequence[tuple[ConsumedRecord, AnyEvent]], *,
                 plaintext_phi: bool = False) -> BatchOutcome:
    """Apply decoded events in one transaction on *conn* (see :func:`apply_batch`)."""
    outcome = BatchOutcome()
    unique: dict[UUID, tuple[ConsumedRecord, AnyEvent]] = {}
    for record, event in decoded:
        if event.event_id in unique:
            outcome.duplicates += 1  # a producer retry inside one batch
        else:
            unique[event.event_id] = (record, event)
    if not unique:
        return outcome
    rows = list(unique.values())
    with conn.transaction():
        claimed = {r[0] for r in conn.execute(_sql.LEDGER, (
            [e.event_id for _, e in rows], [e.event_type for _, e in rows],
            [e.aggregate_id for _, e in rows], [r.topic for r, _ in rows],
            [r.partition for r, _ in rows], [r.offset for r, _ in rows])).fetchall()}
        fresh = [(r, e) for r, e in rows if e.event_id in claimed]
        outcome.duplicates += len(rows) - len(fresh)
        if fresh:
            fresh, identities = write_identities(conn, fresh)
            by_spec: dict[str, list[AnyEvent]] = defaultdict(list)
            for _, e in fresh:
                by_spec[e.schema_name].append(e)
            merged: dict[UUID, _Merged] = {}
            for schema, events in sorted(by_spec.items()):
                merged.update(_merge(conn, spec_for(schema), events, plaintext_phi))
            for m in merged.values():
                setattr(outcome, m.outcome, getattr(outcome, m.outcome) + 1)
            labels = {"stale": "stale", "concurrent": "merged"}
            changed = [(k, labels[m.outcome]) for k, m in merged.items() if m.outcome in labels]
            if changed:
                conn.execute(_sql.LEDGER_OUTCOME, ([k for k, _ in changed],
                                                   [v for _, v in changed]))
            _write_audit(conn, fresh, merged)
            identities.merge_attributes(conn)
    return outcome


def write_identities(conn: Conn, fresh: Sequence[tuple[ConsumedRecord, AnyEvent]]
                     ) -> tuple[list[tuple[ConsumedRecord, AnyEvent]], IdentityBatch]:
    """Resolve the identities *fresh* names (canonical ids, aliases) and create the rows
    missing, with the tasks other aggregates name (step 2 of :func:`apply_batch`).

    Returns the events under canonical ids, and the batch whose attributes
    ``merge_attributes`` merges once the aggregates are written.
    """
    canonical, identities = collect_identities(fresh)
    identities.insert_missing(conn)
    if identities.tasks:
        tasks = [Row(id=task_id, refs=task_refs(t),
                     values={"title": t.title, "priority": t.priority})
                 for task_id, t in sorted(identities.tasks.items())]
        conn.execute(TASKS.table.placeholder, TASKS.placeholder_params(tasks))
    return canonical, identities


def collect_identities(fresh: Sequence[tuple[ConsumedRecord, AnyEvent]]
                       ) -> tuple[list[tuple[ConsumedRecord, AnyEvent]], IdentityBatch]:
    """The events of *fresh* under canonical ids, and the identities they name (no
    statement: what :func:`write_identities` then writes)."""
    identities = IdentityBatch()
    canonical = [(r, canonical_event(e, identities.aliases)) for r, e in fresh]
    for _, e in canonical:
        identities.begin(e)
        spec_for(e.schema_name).collect(e, identities)
    return canonical, identities


@dataclass(frozen=True)
class _Merged:
    """What merging one event did: its outcome and the references of its row after it."""

    outcome: str
    refs: dict[str, Any]


def _merge(conn: Conn, spec: AggregateSpec, events: list[AnyEvent], plaintext_phi: bool
           ) -> dict[UUID, _Merged]:
    """Merge *events* into their rows of *spec*'s table; return what each event did."""
    shown = (lambda values: values) if plaintext_phi else (
        lambda values: without_plaintext_phi(spec, values))
    firsts: dict[UUID, AnyEvent] = {}
    for e in events:
        firsts.setdefault(e.aggregate_id, e)
    conn.execute(spec.table.placeholder,
                 spec.placeholder_params([spec.placeholder(e) for e in firsts.values()]))
    rows = {r.id: r for r in map(spec.row_from_db, conn.execute(spec.table.lock,
                                                                (list(firsts),)))}
    before_batch = dict(rows)
    merged: dict[UUID, _Merged] = {}
    conflicts: list[tuple[Any, ...]] = []
    contradictions: list[tuple[Any, ...]] = []
    for e in sorted(events, key=lambda e: (e.hlc.physical_us, e.hlc.logical, e.hlc.node,
                                           e.event_id)):
        before = rows[e.aggregate_id]
        result = merge_event(before, e, spec.writes(e), spec.rank, spec.claims(e))
        rows[e.aggregate_id] = result.row
        for name, (stored, claim) in sorted(result.contradictions.items()):
            contradictions.append((spec.aggregate_type, e.aggregate_id, e.event_id, name,
                                   _text(stored), _text(claim),
                                   _text(result.row.refs.get(name)), _REFS_RULE))
        if result.ordering is Ordering.CONCURRENT:
            outcome = "concurrent"
            conflicts.append((
                spec.aggregate_type, e.aggregate_id, e.event_id,
                Jsonb(bounded(before.vector_clock.as_dict())), Jsonb(bounded(e.vector_clock)),
                Jsonb(bounded(jsonable(shown(before.values)))),
                Jsonb(bounded({"event_type": e.event_type, "origin_node": e.origin_node,
                       "writes": jsonable(shown(spec.writes(e)))})),
                Jsonb(bounded(jsonable(shown(result.row.values)))), _RULE))
        elif result.changed or result.ordering is Ordering.AFTER:
            outcome = "applied"
        else:
            outcome = "stale"
        merged[e.event_id] = _Merged(outcome, dict(result.row.refs))
    changed = [r for r in rows.values() if r != before_batch[r.id]]
    if changed:
        conn.execute(spec.table.update, spec.update_params(changed))
        states = [state_document(spec, r, plaintext_phi=plaintext_phi) for r in changed]
        conn.execute(_sql.OUTBOX, (
            [spec.aggregate_type for _ in changed], [r.id for r in changed],
            [Jsonb(s) for s in states], [oversized_state(s) for s in states]))
    if conflicts:
        conn.execute(_sql.CONFLICTS, tuple(list(col) for col in zip(*conflicts, strict=True)))
    if contradictions:
        conn.execute(_sql.REFERENCE_CONFLICTS,
                     tuple(list(col) for col in zip(*contradictions, strict=True)))
    return merged


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _write_audit(conn: Conn, batch: list[tuple[ConsumedRecord, AnyEvent]],
                 merged: dict[UUID, _Merged]) -> None:
    # The patient is the one of the row the event changed (a verification's: its task's),
    # never the event's own snapshot, which may contradict the row.
    task_ids = sorted({m.refs["task_id"] for m in merged.values() if "task_id" in m.refs})
    task_patients: dict[UUID, UUID] = dict(conn.execute(
        _sql.TASK_PATIENTS, (task_ids,)).fetchall()) if task_ids else {}

    def patient(event_id: UUID) -> UUID | None:
        refs = merged[event_id].refs
        if "patient_id" in refs:
            return refs["patient_id"]  # type: ignore[no-any-return]
        return task_patients.get(refs["task_id"]) if "task_id" in refs else None

    # In position order: each partition's audit rows enter its hash chain in offset order,
    # and every transaction locks the chain heads (migration 0009) in the same order.
    fresh = sorted(batch, key=lambda re: (re[0].topic, re[0].partition, re[0].offset))
    conn.execute(_sql.AUDIT, (
        [e.event_id for _, e in fresh], [e.event_type for _, e in fresh],
        [e.event_type.lower() for _, e in fresh], [e.aggregate_type for _, e in fresh],
        [e.aggregate_id for _, e in fresh], [e.actor.id for _, e in fresh],
        [e.actor.role for _, e in fresh], [patient(e.event_id) for _, e in fresh],
        [e.source_system if e.source_system in _EMRS else None for _, e in fresh],
        [e.source_system for _, e in fresh], [r.topic for r, _ in fresh],
        [r.partition for r, _ in fresh], [r.offset for r, _ in fresh],
        [Jsonb({"outcome": merged[e.event_id].outcome, "origin_node": e.origin_node})
         for _, e in fresh]))
