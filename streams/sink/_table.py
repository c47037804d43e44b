"""SQL for an aggregate table, built once from its column list (placeholder, lock, update)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from psycopg import sql

__all__ = ["Column", "TableSql", "params_sql"]


@dataclass(frozen=True)
class Column:
    """A column: its SQL type, the array type it travels in, and how it is read back."""

    name: str
    type: str
    transport: str = ""

    @property
    def wire(self) -> str:
        """The element type of the array parameter that carries the column."""
        return self.transport or ("text" if self.type.endswith(("_status", "_priority",
                                                                 "_system", "_role"))
                                  else self.type)

    def assign(self) -> sql.Composable:
        """``u.col`` converted from its wire type to the column type."""
        ref = sql.SQL("u.{}").format(sql.Identifier(self.name))
        if self.type == "uuid[]" and self.wire == "jsonb":
            return sql.SQL("ARRAY(SELECT jsonb_array_elements_text({})::uuid)").format(ref)
        if self.wire != self.type:
            return sql.SQL("{}::{}").format(ref, sql.SQL(self.type))
        return ref

    def select(self) -> sql.Composable:
        """The column as the lock query reads it (enums as text, arrays as JSON)."""
        name = sql.Identifier(self.name)
        if self.type == "uuid[]":
            return sql.SQL("to_jsonb({})").format(name)
        if self.wire != self.type:
            return sql.SQL("{}::text").format(name)
        return name


_MERGE_STATE = (Column("field_clocks", "jsonb"), Column("vector_clock", "jsonb"),
                Column("hlc_physical", "bigint"), Column("hlc_logical", "int"),
                Column("origin_node", "text"), Column("last_event_id", "uuid"),
                Column("updated_at", "timestamptz"))


def params_sql(columns: tuple[Column, ...]) -> sql.Composable:
    """``%b::type[]`` for each column: the arrays an ``unnest`` statement takes."""
    # %b: binary parameters. The text format quotes every array element with a regex,
    # which profiling showed to be a third of the apply path's time.
    return sql.SQL(", ").join(sql.SQL("%b::{}[]").format(sql.SQL(c.wire)) for c in columns)


@dataclass(frozen=True)
class TableSql:
    """The three statements the apply path runs on an aggregate table, rendered once (a
    composed statement costs psycopg a rendering at every execution)."""

    table: str
    refs: tuple[Column, ...]
    values: tuple[Column, ...]
    placeholder_values: tuple[str, ...]

    @cached_property
    def placeholder(self) -> bytes:
        """Insert rows that do not exist yet (id, references, initial values); until an
        event of its own is merged, a row was last updated when it was created (a task
        only another aggregate's snapshot names keeps that time)."""
        initial = tuple(c for c in self.values if c.name in self.placeholder_values)
        columns = (Column("id", "uuid"), *self.refs, *initial)
        return sql.SQL(
            "INSERT INTO {table} ({cols}, updated_at) SELECT {exprs}, u.created_at "
            "FROM unnest({params}) AS u({cols}) ON CONFLICT (id) DO NOTHING").format(
            table=sql.Identifier(self.table),
            cols=sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
            exprs=sql.SQL(", ").join(c.assign() for c in columns),
            params=params_sql(columns)).as_bytes(None)

    @cached_property
    def lock(self) -> bytes:
        """Read and lock the rows of a batch, in id order (no deadlock between instances)."""
        columns = (Column("id", "uuid"), *self.refs, *self.values, *_MERGE_STATE)
        return sql.SQL("SELECT {cols} FROM {table} WHERE id = ANY(%s) ORDER BY id "
                       "FOR UPDATE").format(
            cols=sql.SQL(", ").join(c.select() for c in columns),
            table=sql.Identifier(self.table)).as_bytes(None)

    @cached_property
    def update(self) -> bytes:
        """Write merged references, values and merge state back, one statement for the
        batch."""
        columns = (Column("id", "uuid"), *self.refs, *self.values, *_MERGE_STATE)
        return sql.SQL("UPDATE {table} AS t SET {sets} FROM unnest({params}) AS u({cols}) "
                       "WHERE t.id = u.id").format(
            table=sql.Identifier(self.table),
            sets=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c.name),
                                                              c.assign())
                                    for c in columns[1:]),
            params=params_sql(columns),
            cols=sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)).as_bytes(None)
