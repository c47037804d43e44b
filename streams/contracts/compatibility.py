"""Avro schema compatibility over raw schema JSON, per the specification's resolution rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["can_read", "check_pair"]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "enum", "fixed"})

# (writer type, reader type) pairs a reader may promote; see "Schema Resolution" in the spec.
_PROMOTIONS = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)

_INVALID = "invalid"


@dataclass(frozen=True)
class _Node:
    """A schema with its references resolved one level: what kind it is and where it lives."""

    kind: str
    """A primitive name, "record", "enum", "fixed", "array", "map", "union" or "invalid"."""
    schema: Any
    """The schema JSON (a dict or list), the primitive name, or for "invalid" an explanation."""
    namespace: str = ""
    """Namespace in which names inside this schema are resolved."""
    fullname: str = ""
    """Fully qualified name, for named types."""

    @property
    def name(self) -> str:
        """Unqualified name of a named type."""
        return self.fullname.rpartition(".")[2]

    @property
    def label(self) -> str:
        """How the node is named in a path: its name if it has one, else its kind."""
        return self.name if self.kind in _NAMED else self.kind

    @property
    def description(self) -> str:
        """The node in a sentence, e.g. "record 'TaskCreated'" or "long"."""
        return f"{self.kind} '{self.name}'" if self.kind in _NAMED else self.kind


def _qualify(name: str, namespace: str) -> str:
    """Full name of a reference or definition name, relative to the enclosing namespace."""
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _definition_name(schema: Mapping[str, Any], enclosing: str) -> tuple[str, str] | None:
    """Full name and namespace of a named type definition, or None when it has no usable name."""
    name = schema.get("name")
    if not isinstance(name, str) or not name:
        return None
    if "." in name:
        return name, name.rpartition(".")[0]
    namespace = schema.get("namespace", enclosing)
    if not isinstance(namespace, str):
        namespace = enclosing
    return _qualify(name, namespace), namespace


def _unqualified_aliases(schema: Mapping[str, Any]) -> set[str]:
    """The unqualified parts of a schema's or field's aliases."""
    aliases = schema.get("aliases")
    if not isinstance(aliases, list):
        return set()
    return {alias.rpartition(".")[2] for alias in aliases if isinstance(alias, str)}


class _Side:
    """One schema (reader or writer) with its named types indexed by full name."""

    def __init__(self, schema: object, role: str) -> None:
        self.role = role
        self._names: dict[str, tuple[Mapping[str, Any], str]] = {}
        self._register(schema, "")
        self.root = self.node(schema, "")

    def _register(self, schema: object, namespace: str) -> None:
        """Index every named type defined anywhere in the schema, before any comparison."""
        if isinstance(schema, list):
            for branch in schema:
                self._register(branch, namespace)
            return
        if not isinstance(schema, dict):
            return
        kind = schema.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            named = _definition_name(schema, namespace)
            if named is None:
                return
            fullname, inner = named
            self._names.setdefault(fullname, (schema, namespace))
            fields = schema.get("fields") if kind in ("record", "error") else None
            for field in fields if isinstance(fields, list) else []:
                if isinstance(field, dict):
                    self._register(field.get("type"), inner)
        elif kind == "array":
            self._register(schema.get("items"), namespace)
        elif kind == "map":
            self._register(schema.get("values"), namespace)
        elif isinstance(kind, dict | list):
            self._register(kind, namespace)

    def node(self, schema: object, namespace: str) -> _Node:
        """Resolve a schema (or a reference to a named type) in the given enclosing namespace."""
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _Node(schema, schema)
            found = self._names.get(_qualify(schema, namespace)) or self._names.get(schema)
            if found is None:
                return _Node(_INVALID, f"the {self.role} schema refers to unknown type '{schema}'")
            return self.node(*found)
        if isinstance(schema, list):
            return _Node("union", schema, namespace)
        if not isinstance(schema, dict):
            return _Node(_INVALID, f"the {self.role} schema has a malformed type")
        kind = schema.get("type")
        if kind in _PRIMITIVES:
            # A logicalType annotation only reinterprets the underlying type.
            return _Node(kind, kind)
        if kind in ("record", "error", "enum", "fixed"):
            named = _definition_name(schema, namespace)
            if named is None:
                return _Node(_INVALID, f"the {self.role} schema has a {kind} without a name")
            fullname, inner = named
            return _Node("record" if kind == "error" else kind, schema, inner, fullname)
        if kind in ("array", "map"):
            return _Node(kind, schema, namespace)
        if isinstance(kind, str | dict | list):
            return self.node(kind, namespace)
        return _Node(_INVALID, f"the {self.role} schema has a malformed type")


def _fields(node: _Node) -> list[Mapping[str, Any]]:
    fields = node.schema.get("fields")
    if not isinstance(fields, list):
        return []
    return [field for field in fields if isinstance(field, dict) and "name" in field]


def _symbols(node: _Node) -> list[str]:
    symbols = node.schema.get("symbols")
    if not isinstance(symbols, list):
        return []
    return [symbol for symbol in symbols if isinstance(symbol, str)]


def _names_match(reader: _Node, writer: _Node) -> bool:
    """Named types match by unqualified name, or by an alias of the reader."""
    return reader.name == writer.name or writer.name in _unqualified_aliases(reader.schema)


class _Checker:
    """Walks a reader and a writer schema together, collecting resolution problems."""

    def __init__(self, reader: _Side, writer: _Side) -> None:
        self.reader = reader
        self.writer = writer
        self.problems: list[str] = []
        self._in_progress: set[tuple[str, str]] = set()

    def check(self, reader: _Node, writer: _Node, path: str) -> None:
        for node in (reader, writer):
            if node.kind == _INVALID:
                self.problems.append(f"{path}: {node.schema}")
                return
        if writer.kind == "union":
            for branch in writer.schema:
                resolved = self.writer.node(branch, writer.namespace)
                self.check(reader, resolved, f"{path}[{resolved.label}]")
            return
        if reader.kind == "union":
            chosen = self._select_branch(reader, writer)
            if chosen is None:
                self.problems.append(
                    f"{path}: no branch of the reader union can read writer type "
                    f"{writer.description}"
                )
            else:
                self.check(chosen, writer, path)
            return
        if reader.kind in _PRIMITIVES or writer.kind in _PRIMITIVES:
            if reader.kind != writer.kind and (writer.kind, reader.kind) not in _PROMOTIONS:
                self._mismatch(reader, writer, path)
            return
        if reader.kind != writer.kind:
            self._mismatch(reader, writer, path)
            return
        if reader.kind == "array":
            self.check(
                self.reader.node(reader.schema.get("items"), reader.namespace),
                self.writer.node(writer.schema.get("items"), writer.namespace),
                f"{path}[]",
            )
            return
        if reader.kind == "map":
            self.check(
                self.reader.node(reader.schema.get("values"), reader.namespace),
                self.writer.node(writer.schema.get("values"), writer.namespace),
                f"{path}{{}}",
            )
            return
        if not _names_match(reader, writer):
            self.problems.append(
                f"{path}: reader {reader.kind} '{reader.name}' does not match writer "
                f"{writer.kind} '{writer.name}' (names differ and no reader alias matches)"
            )
            return
        if reader.kind == "enum":
            self._check_enum(reader, writer, path)
        elif reader.kind == "fixed":
            if reader.schema.get("size") != writer.schema.get("size"):
                self.problems.append(
                    f"{path}: fixed '{reader.name}' has size {reader.schema.get('size')} in the "
                    f"reader but {writer.schema.get('size')} in the writer"
                )
        else:
            self._check_record(reader, writer, path)

    def _mismatch(self, reader: _Node, writer: _Node, path: str) -> None:
        self.problems.append(
            f"{path}: reader type {reader.description} cannot read writer type {writer.description}"
        )

    def _select_branch(self, reader: _Node, writer: _Node) -> _Node | None:
        """The reader union branch resolved against a (non-union) writer, as the spec picks it.

        Exact matches (same primitive, same full name, same array/map kind) win over a named
        type matching by unqualified name or alias, which wins over a primitive promotion; within
        a rank the first branch in union order is taken.
        """
        best: tuple[int, _Node] | None = None
        for branch in reader.schema:
            candidate = self.reader.node(branch, reader.namespace)
            rank = _match_rank(candidate, writer)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, candidate)
        return None if best is None else best[1]

    def _check_enum(self, reader: _Node, writer: _Node, path: str) -> None:
        if "default" in reader.schema:
            return
        known = set(_symbols(reader))
        missing = [symbol for symbol in _symbols(writer) if symbol not in known]
        if missing:
            self.problems.append(
                f"{path}: writer symbols {', '.join(missing)} of enum '{writer.name}' are not "
                "reader symbols and the reader enum has no default"
            )

    def _check_record(self, reader: _Node, writer: _Node, path: str) -> None:
        key = (reader.fullname, writer.fullname)
        if key in self._in_progress:
            return  # A recursive reference: the enclosing check reports any problem once.
        self._in_progress.add(key)
        try:
            writer_fields = {field["name"]: field for field in _fields(writer)}
            for field in _fields(reader):
                name = field["name"]
                field_path = f"{path}.{name}"
                candidates = [name, *sorted(_unqualified_aliases(field))]
                match = next((writer_fields[c] for c in candidates if c in writer_fields), None)
                if match is None:
                    if "default" not in field:
                        self.problems.append(
                            f"{field_path}: reader field '{name}' has no default and the writer "
                            f"record '{writer.name}' has no such field"
                        )
                    continue
                self.check(
                    self.reader.node(field.get("type"), reader.namespace),
                    self.writer.node(match.get("type"), writer.namespace),
                    field_path,
                )
        finally:
            self._in_progress.discard(key)


def _match_rank(reader: _Node, writer: _Node) -> int | None:
    """How well a reader union branch matches a writer schema at the top level (lower is better)."""
    if reader.kind != writer.kind:
        return 2 if (writer.kind, reader.kind) in _PROMOTIONS else None
    if reader.kind in _NAMED:
        if reader.fullname == writer.fullname:
            return 0
        return 1 if _names_match(reader, writer) else None
    if reader.kind in (_INVALID, "union"):
        return None
    return 0


def can_read(reader: object, writer: object) -> list[str]:
    """Problems reading data written with `writer` using `reader`; empty when compatible."""
    reader_side = _Side(reader, "reader")
    writer_side = _Side(writer, "writer")
    root = reader_side.root
    path = root.name if root.kind in _NAMED else "<root>"
    checker = _Checker(reader_side, writer_side)
    checker.check(root, writer_side.root, path)
    return checker.problems


def check_pair(old: object, new: object) -> list[str]:
    """Backward (new reads old) and forward (old reads new) problems, each prefixed by its kind."""
    backward = [f"backward: {problem}" for problem in can_read(new, old)]
    forward = [f"forward: {problem}" for problem in can_read(old, new)]
    return backward + forward
