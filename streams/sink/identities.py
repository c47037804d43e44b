"""Identities (departments, staff, patients, shifts): resolved from the events' snapshots,
whatever order the snapshots arrive in (docs/identities.md).

* **One id per natural key** (``streams.contracts.identity``): every department, user and
  patient snapshot in an event is rewritten to its canonical id before anything is merged,
  and the id the producer minted is recorded as an alias. Two adapters that minted
  different ids for one nurse write one row; an event never fails a foreign key for it.
* **Attributes merge per field, last writer wins** on the clock of the event that carried
  the snapshot (the task fields' rule): a later snapshot renames a patient or makes a nurse
  charge nurse, an earlier one arriving late changes nothing. A null attribute (a sealed
  patient's names) is "not known to this producer", never an erasure. A shift has no
  natural key: its id is the producer's, and its four attributes are one register (so
  ``ends_at > starts_at`` holds on what is stored).
* ``created_at`` is the earliest ``occurred_at`` of a snapshot, ``updated_at`` the
  ``occurred_at`` of the latest; ``ingested_at`` is when the processor first saw the row.

Rows are inserted when missing at the start of a batch (the aggregates reference them) and
their attributes merged at its end, so the row locks that merge takes are held only while
the batch commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property, lru_cache
from typing import Any, LiteralString, get_args
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from streams.contracts.identity import IdentityKind, identity_id
from streams.contracts.models import (
    AnyEvent,
    DepartmentSnapshot,
    PatientSnapshot,
    ShiftSnapshot,
    TaskSnapshot,
    UserSnapshot,
)
from streams.sink._table import Column, params_sql
from streams.sink.merge import FieldClock, clock_of

__all__ = ["Alias", "IdentityBatch", "canonical_event"]

Conn = psycopg.Connection[tuple[Any, ...]]
#: (kind, the producer's id, the canonical id).
Alias = tuple[IdentityKind, UUID, UUID]

_NATURAL_KEYS: dict[type[BaseModel], tuple[IdentityKind, str]] = {
    DepartmentSnapshot: ("department", "code"),
    UserSnapshot: ("user", "username"),
    PatientSnapshot: ("patient", "mrn"),
}
#: The clock of the newest snapshot of a row (its updated_at).
_SEEN = "_seen"


def canonical_event(event: AnyEvent, aliases: set[Alias]) -> AnyEvent:
    """*event* with every department, user and patient snapshot under its canonical id;
    the producer ids that differ are added to *aliases*."""
    resolved: AnyEvent = _canonical(event, aliases)
    return resolved


def _canonical(model: BaseModel, aliases: set[Alias]) -> Any:
    updates: dict[str, Any] = {}
    for name in _identity_fields(type(model)):
        value = getattr(model, name)
        if isinstance(value, tuple):
            items = tuple(_canonical_part(v, aliases) for v in value)
            if any(a is not b for a, b in zip(items, value, strict=True)):
                updates[name] = items
        elif value is not None:
            new = _canonical_part(value, aliases)
            if new is not value:
                updates[name] = new
    natural = _NATURAL_KEYS.get(type(model))
    if natural is not None:
        kind, key = natural
        canonical = identity_id(kind, getattr(model, key))
        if canonical != model.id:  # type: ignore[attr-defined]
            aliases.add((kind, model.id, canonical))  # type: ignore[attr-defined]
            updates["id"] = canonical
    return model.model_copy(update=updates) if updates else model


def _canonical_part(model: BaseModel, aliases: set[Alias]) -> Any:
    """A snapshot below the envelope: the same ones recur in many events (a ward's staff,
    a task's snapshot), so their canonical form is cached by value."""
    try:
        resolved, found = _cached_part(model)
    except TypeError:  # an unhashable value: walk it uncached
        return _canonical(model, aliases)
    aliases.update(found)
    return resolved


@lru_cache(maxsize=8192)
def _cached_part(model: BaseModel) -> tuple[Any, frozenset[Alias]]:
    found: set[Alias] = set()
    return _canonical(model, found), frozenset(found)


@cache
def _identity_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of *cls* that can hold an identity snapshot (the only ones walked)."""
    return tuple(name for name, info in cls.model_fields.items()
                 if _holds_identity(info.annotation))


def _holds_identity(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation in _NATURAL_KEYS or bool(_identity_fields(annotation))
    return any(_holds_identity(arg) for arg in get_args(annotation))


@dataclass
class _Snapshot:
    """The merged snapshots of one identity in a batch."""

    key: str | None
    values: dict[str, Any]
    clocks: dict[str, FieldClock]
    created_at: datetime
    updated_at: datetime

    def add(self, values: dict[str, Any], clock: FieldClock, at: datetime) -> None:
        clocks, mine = self.clocks, self.values
        if clock > clocks[_SEEN]:  # later than every snapshot so far: each value wins
            for name, value in values.items():
                if value is not None:
                    mine[name] = value
                    clocks[name] = clock
            clocks[_SEEN] = clock
            self.updated_at = at
        else:
            for name, value in values.items():
                if value is not None and (name not in clocks or clock > clocks[name]):
                    mine[name] = value
                    clocks[name] = clock
        if at < self.created_at:
            self.created_at = at


@dataclass(frozen=True)
class _IdentityTable:
    """How one identity table is written: rows inserted when missing (batch start), then
    attributes merged (batch end). Statements are rendered once.

    ``values`` are per-field registers. ``group`` columns form one register, ``register``,
    written by a statement of their own that never reads them: a patient's PHI (names,
    date of birth, sealed PHI) is merged without the processor reading it back.
    """

    table: str
    key: Column | None
    values: tuple[Column, ...]
    group: tuple[Column, ...] = ()
    register: str = ""

    def _columns(self) -> tuple[Column, ...]:
        return (Column("id", "uuid"), *((self.key,) if self.key else ()), *self.values,
                *self.group, Column("field_clocks", "jsonb"),
                Column("created_at", "timestamptz"), Column("updated_at", "timestamptz"))

    @cached_property
    def insert(self) -> bytes:
        columns = self._columns()
        return sql.SQL(
            "INSERT INTO {table} ({cols}) SELECT {exprs} FROM unnest({params}) AS u({cols}) "
            "ORDER BY u.id ON CONFLICT DO NOTHING").format(
            table=sql.Identifier(self.table), cols=_names(columns),
            exprs=sql.SQL(", ").join(c.assign() for c in columns),
            params=params_sql(columns)).as_bytes(None)

    @cached_property
    def update_group(self) -> bytes:
        """Write the group where the batch's register is newer (before :attr:`update`,
        which then records its clock)."""
        columns = (Column("id", "uuid"), *self.group, Column("field_clocks", "jsonb"))
        return sql.SQL(
            "UPDATE {table} AS t SET {sets} FROM unnest({params}) AS u({cols}) "
            "WHERE t.id = u.id AND {newer}").format(
            table=sql.Identifier(self.table),
            sets=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c.name),
                                                              c.assign())
                                    for c in self.group),
            params=params_sql(columns), cols=_names(columns),
            newer=_NEWER.format(k=sql.Literal(self.register))).as_bytes(None)

    @cached_property
    def update(self) -> bytes:
        """Merge the per-field registers, the clocks, created_at and updated_at."""
        columns = self._columns()
        case = sql.SQL("{col} = CASE WHEN {newer} THEN {value} ELSE t.{col} END")
        sets: list[sql.Composable] = [
            case.format(col=sql.Identifier(c.name), value=c.assign(),
                        newer=_NEWER.format(k=sql.Literal(c.name)))
            for c in self.values]
        sets += [
            sql.SQL("field_clocks = t.field_clocks || coalesce((SELECT jsonb_object_agg(c.k, "
                    "c.v) FROM jsonb_each(u.field_clocks) AS c(k, v) WHERE "
                    "emr_clock_after(c.v, t.field_clocks -> c.k)), '{}')"),
            sql.SQL("created_at = LEAST(t.created_at, u.created_at)"),
            sql.SQL("updated_at = CASE WHEN {newer} THEN u.updated_at ELSE t.updated_at "
                    "END").format(newer=_NEWER.format(k=sql.Literal(_SEEN)))]
        return sql.SQL(
            "UPDATE {table} AS t SET {sets} FROM unnest({params}) AS u({cols}) "
            "WHERE t.id = u.id AND (u.created_at < t.created_at OR EXISTS (SELECT 1 FROM "
            "jsonb_each(u.field_clocks) AS c(k, v) WHERE "
            "emr_clock_after(c.v, t.field_clocks -> c.k)))").format(
            table=sql.Identifier(self.table), sets=sql.SQL(", ").join(sets),
            params=params_sql(columns), cols=_names(columns)).as_bytes(None)

    def params(self, rows: dict[UUID, _Snapshot], *, group_only: bool = False
               ) -> tuple[list[Any], ...]:
        ordered = sorted(rows.items())  # one lock order for every instance
        values: list[list[Any]] = [[i for i, _ in ordered]]
        if not group_only:
            if self.key is not None:
                values.append([s.key for _, s in ordered])
            for column in self.values:
                values.append([_wire(column, s.values.get(column.name)) for _, s in ordered])
        for column in self.group:
            values.append([_wire(column, (s.values.get(self.register) or {}).get(column.name))
                           for _, s in ordered])
        values.append([Jsonb({k: list(v) for k, v in s.clocks.items()}) for _, s in ordered])
        if not group_only:
            values.append([s.created_at for _, s in ordered])
            values.append([s.updated_at for _, s in ordered])
        return tuple(values)


def _refused_ids(conn: Conn, table: _IdentityTable, rows: dict[UUID, _Snapshot],
                 ids: list[UUID], refused: Callable[[BaseException], bool],
                 on_probe: Callable[[], None]) -> list[UUID]:
    """The ids among *ids* whose rows *table*'s insert refuses alone (see
    :meth:`IdentityBatch.refused_rows`)."""
    if not ids:
        return []
    on_probe()
    try:
        with conn.transaction():
            conn.execute(table.insert, table.params({i: rows[i] for i in ids}))
        return []
    except Exception as exc:
        if not refused(exc):
            raise
        if len(ids) == 1:
            return ids
    half = len(ids) // 2
    return [*_refused_ids(conn, table, rows, ids[:half], refused, on_probe),
            *_refused_ids(conn, table, rows, ids[half:], refused, on_probe)]


_NEWER = sql.SQL("emr_clock_after(u.field_clocks -> {k}, t.field_clocks -> {k})")


def _names(columns: tuple[Column, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)


def _wire(column: Column, value: Any) -> Any:
    return Jsonb(value) if column.wire == "jsonb" and value is not None else value


_TABLES = {
    "departments": _IdentityTable("departments", Column("code", "text"),
                                  (Column("name", "text"),)),
    "users": _IdentityTable("users", Column("username", "text"),
                            (Column("display_name", "text"), Column("role", "user_role"))),
    "patients": _IdentityTable(
        "patients", Column("mrn", "text"),
        (Column("emr_system", "emr_system"), Column("emr_id", "text")),
        (Column("first_name", "text"), Column("last_name", "text"),
         Column("date_of_birth", "date"), Column("encrypted_data", "jsonb")), "phi"),
    "shifts": _IdentityTable("shifts", None, (), (
        Column("department_id", "uuid"), Column("supervisor_id", "uuid"),
        Column("starts_at", "timestamptz"), Column("ends_at", "timestamptz")), "snapshot"),
}

_ALIASES: LiteralString = (
    "INSERT INTO identity_aliases (kind, alias_id, canonical_id) "
    "SELECT * FROM unnest(%b::text[], %b::uuid[], %b::uuid[]) ON CONFLICT DO NOTHING")


@dataclass
class IdentityBatch:
    """The identities a batch of (canonical) events names, merged per field."""

    aliases: set[Alias] = field(default_factory=set)
    rows: dict[str, dict[UUID, _Snapshot]] = field(
        default_factory=lambda: {table: {} for table in _TABLES})
    #: Tasks named by another aggregate's snapshot (a verification's), and that snapshot.
    tasks: dict[UUID, TaskSnapshot] = field(default_factory=dict)
    #: (table, row id) → the events whose snapshots named the row.
    named_by: dict[tuple[str, UUID], set[UUID]] = field(default_factory=dict)
    _clock: FieldClock = (0, 0, "", "")
    _at: datetime | None = None
    _event: UUID | None = None

    def begin(self, event: AnyEvent) -> None:
        """The snapshots added next come with *event* (its clock and occurred_at)."""
        self._clock = clock_of(event)
        self._at = event.occurred_at
        self._event = event.event_id

    def _add(self, table: str, row_id: UUID, key: str | None, values: dict[str, Any]) -> None:
        assert self._at is not None and self._event is not None, "begin(event) first"
        self.named_by.setdefault((table, row_id), set()).add(self._event)
        current = self.rows[table].get(row_id)
        if current is None:
            current = self.rows[table][row_id] = _Snapshot(
                key, {}, {_SEEN: self._clock}, self._at, self._at)
        current.add(values, self._clock, self._at)

    def department(self, d: DepartmentSnapshot) -> None:
        self._add("departments", d.id, d.code, {"name": d.name})

    def user(self, u: UserSnapshot | None) -> None:
        if u is not None:
            self._add("users", u.id, u.username, {"display_name": u.display_name,
                                                  "role": u.role})

    def patient(self, p: PatientSnapshot) -> None:
        phi = {"first_name": p.first_name, "last_name": p.last_name,
               "date_of_birth": p.date_of_birth,
               "encrypted_data": ({"v": 1, "sealed_phi": p.sealed_phi}
                                  if p.sealed_phi is not None else None)}
        self._add("patients", p.id, p.mrn, {
            "emr_system": p.emr_system, "emr_id": p.emr_id,
            # One register: the latest snapshot that carries PHI (plain or sealed).
            "phi": phi if any(v is not None for v in phi.values()) else None})

    def shift(self, s: ShiftSnapshot | None) -> None:
        if s is not None:
            self.department(s.department)
            self.user(s.supervisor)
            self._add("shifts", s.id, None, {"snapshot": {
                "department_id": s.department.id, "supervisor_id": s.supervisor.id,
                "starts_at": s.starts_at, "ends_at": s.ends_at}})

    def task(self, task_id: UUID, task: TaskSnapshot) -> None:
        """A task another aggregate names (its row is created if missing)."""
        self.tasks.setdefault(task_id, task)
        self.department(task.department)
        self.patient(task.patient)
        self.user(task.created_by)

    def insert_missing(self, conn: Conn) -> None:
        """Create the rows that do not exist yet, and record the aliases (batch start)."""
        for table in _TABLES.values():
            rows = self.rows[table.table]
            if rows:
                conn.execute(table.insert, table.params(rows))
        if self.aliases:
            ordered = sorted(self.aliases)
            conn.execute(_ALIASES, ([a[0] for a in ordered], [a[1] for a in ordered],
                                    [a[2] for a in ordered]))

    def refused_rows(self, conn: Conn, refused: Callable[[BaseException], bool],
                     on_probe: Callable[[], None] = lambda: None) -> set[UUID]:
        """The events that named a row the database refuses on its own.

        Call inside a savepoint the caller rolls back. Each table's missing rows are
        inserted as :meth:`insert_missing` would; where that statement is refused (an
        error *refused* says is the record's), its rows are split in halves, each half a
        savepoint of that one statement, down to the rows refused alone. The rows that go
        through stay, so the next table's rows find the ones they reference. A row's
        snapshot may merge several events' snapshots: the events returned are suspects,
        each still to be tried alone. *on_probe* is called for each savepoint.
        """
        suspects: set[UUID] = set()
        for table in _TABLES.values():
            rows = self.rows[table.table]
            for row_id in _refused_ids(conn, table, rows, sorted(rows), refused, on_probe):
                suspects |= self.named_by[(table.table, row_id)]
        return suspects

    def merge_attributes(self, conn: Conn) -> None:
        """Merge the batch's attributes into the rows that existed (batch end)."""
        for table in _TABLES.values():
            rows = self.rows[table.table]
            if rows and table.group:
                conn.execute(table.update_group, table.params(rows, group_only=True))
            if rows:
                conn.execute(table.update, table.params(rows))

