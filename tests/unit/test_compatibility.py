"""Avro schema compatibility: the specification's resolution rules over raw schema JSON."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from streams.contracts.compatibility import can_read, check_pair

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SCHEMA_FILES = sorted(SCHEMAS.glob("*/v*.avsc"))


def record(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def field(name: str, type_: object, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def backward(problems: list[str]) -> list[str]:
    return [p for p in problems if p.startswith("backward: ")]


def forward(problems: list[str]) -> list[str]:
    return [p for p in problems if p.startswith("forward: ")]


def test_adding_a_field_with_a_default_is_compatible_both_ways() -> None:
    old = record("Event", field("id", "string"))
    new = record("Event", field("id", "string"), field("note", ["null", "string"], default=None))
    assert check_pair(old, new) == []


def test_adding_a_field_without_a_default_breaks_backward_only() -> None:
    old = record("Event", field("id", "string"))
    new = record("Event", field("id", "string"), field("note", "string"))
    problems = check_pair(old, new)
    assert forward(problems) == []
    assert len(backward(problems)) == 1
    assert "Event.note" in problems[0]
    assert "no default" in problems[0]


def test_removing_a_field_without_a_default_in_the_old_schema_breaks_forward_only() -> None:
    old = record("Event", field("id", "string"), field("note", "string"))
    new = record("Event", field("id", "string"))
    problems = check_pair(old, new)
    assert backward(problems) == []
    assert len(forward(problems)) == 1
    assert "Event.note" in problems[0]


def test_removing_a_field_with_a_default_is_compatible_both_ways() -> None:
    old = record("Event", field("id", "string"), field("note", "string", default=""))
    new = record("Event", field("id", "string"))
    assert check_pair(old, new) == []


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    ],
)
def test_promotions(writer: str, reader: str) -> None:
    assert can_read(reader, writer) == []


def test_int_to_long_is_compatible_backward_but_not_forward() -> None:
    old = record("Event", field("count", "int"))
    new = record("Event", field("count", "long"))
    problems = check_pair(old, new)
    assert backward(problems) == []
    assert forward(problems) == [
        "forward: Event.count: reader type int cannot read writer type long"
    ]


def test_unrelated_primitives_are_incompatible() -> None:
    assert can_read("string", "int") == ["<root>: reader type string cannot read writer type int"]
    assert can_read("boolean", "null") != []


def test_logical_types_compare_on_their_underlying_type() -> None:
    micros = {"type": "long", "logicalType": "timestamp-micros"}
    uuid = {"type": "string", "logicalType": "uuid"}
    assert check_pair(micros, "long") == []
    assert check_pair(uuid, "string") == []
    assert can_read("long", {"type": "int", "logicalType": "date"}) == []
    assert can_read(micros, uuid) != []


def enum(symbols: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "Status", "symbols": symbols, **extra}


def test_adding_an_enum_symbol_breaks_forward() -> None:
    old = record("Event", field("status", enum(["OPEN", "DONE"])))
    new = record("Event", field("status", enum(["OPEN", "DONE", "HELD"])))
    problems = check_pair(old, new)
    assert backward(problems) == []
    assert len(forward(problems)) == 1
    assert "Event.status" in problems[0]
    assert "HELD" in problems[0]


def test_adding_an_enum_symbol_is_fine_when_the_old_reader_enum_has_a_default() -> None:
    old = record("Event", field("status", enum(["OPEN", "DONE", "OTHER"], default="OTHER")))
    new = record("Event", field("status", enum(["OPEN", "DONE", "OTHER", "HELD"])))
    assert check_pair(old, new) == []


def test_a_default_on_the_writer_enum_only_does_not_help() -> None:
    old = record("Event", field("status", enum(["OPEN", "DONE"])))
    new = record("Event", field("status", enum(["OPEN", "DONE", "HELD"], default="OPEN")))
    assert len(forward(check_pair(old, new))) == 1


def test_removing_an_enum_symbol_breaks_backward() -> None:
    old = enum(["OPEN", "DONE", "HELD"])
    new = enum(["OPEN", "DONE"])
    problems = check_pair(old, new)
    assert forward(problems) == []
    assert len(backward(problems)) == 1


def test_adding_a_union_branch_breaks_forward() -> None:
    old = record("Event", field("value", ["null", "string"]))
    new = record("Event", field("value", ["null", "string", "int"]))
    problems = check_pair(old, new)
    assert backward(problems) == []
    assert forward(problems) == [
        "forward: Event.value[int]: no branch of the reader union can read writer type int"
    ]


def test_union_and_non_union() -> None:
    nullable = ["null", "string"]
    # A reader union reads a plain writer through a matching branch.
    assert can_read(nullable, "string") == []
    # A plain reader reads a writer union only if it reads every branch.
    assert can_read("string", nullable) == [
        "<root>[null]: reader type string cannot read writer type null"
    ]
    assert can_read("long", ["int", "long"]) == []
    # A reader union may pick a promotion.
    assert can_read(["null", "double"], "int") == []


def test_union_branch_is_picked_by_name_and_checked_in_depth() -> None:
    old = ["null", record("Item", field("id", "string"))]
    new = ["null", record("Item", field("id", "string"), field("size", "int"))]
    problems = check_pair(old, new)
    assert forward(problems) == []
    assert backward(problems) == [
        "backward: <root>[Item].size: reader field 'size' has no default and the writer "
        "record 'Item' has no such field"
    ]


def test_renaming_a_record_breaks_both_ways() -> None:
    old = record("Event", field("id", "string"))
    new = record("Occurrence", field("id", "string"))
    problems = check_pair(old, new)
    assert len(backward(problems)) == 1
    assert len(forward(problems)) == 1
    assert "'Occurrence'" in problems[0]
    assert "'Event'" in problems[0]


def test_renaming_a_record_with_an_alias_is_backward_compatible() -> None:
    old = record("Event", field("id", "string"), namespace="org.a")
    new = record("Occurrence", field("id", "string"), namespace="org.b", aliases=["org.a.Event"])
    problems = check_pair(old, new)
    assert backward(problems) == []
    assert len(forward(problems)) == 1


def test_records_match_by_unqualified_name() -> None:
    old = record("Event", field("id", "string"), namespace="org.a")
    new = record("Event", field("id", "string"), namespace="org.b")
    assert check_pair(old, new) == []


def test_renaming_a_field_with_an_alias_is_backward_compatible() -> None:
    old = record("Event", field("id", "string"))
    new = record("Event", field("event_id", "string", aliases=["id"]))
    problems = check_pair(old, new)
    assert backward(problems) == []
    assert len(forward(problems)) == 1
    assert "Event.id" in forward(problems)[0]


def test_fixed_must_keep_name_and_size() -> None:
    md5 = {"type": "fixed", "name": "Hash", "size": 16}
    assert check_pair(md5, md5) == []
    assert len(check_pair(md5, {**md5, "size": 32})) == 2
    assert len(check_pair(md5, {**md5, "name": "Digest"})) == 2
    assert can_read(md5, "bytes") != []


def test_arrays_and_maps_recurse() -> None:
    assert check_pair({"type": "array", "items": "int"}, {"type": "array", "items": "long"}) == [
        "forward: <root>[]: reader type int cannot read writer type long"
    ]
    assert check_pair({"type": "map", "values": "int"}, {"type": "map", "values": "long"}) == [
        "forward: <root>{}: reader type int cannot read writer type long"
    ]
    assert can_read({"type": "array", "items": "int"}, {"type": "map", "values": "int"}) != []


def nested(*inner_fields: dict[str, Any]) -> dict[str, Any]:
    """A record that defines Inner in its first field and refers to it by name later."""
    return record(
        "Outer",
        field("first", record("Inner", *inner_fields)),
        field("short_ref", "Inner"),
        field("full_ref", "org.example.Inner"),
        field("in_union", ["null", "Inner"], default=None),
        field("in_array", {"type": "array", "items": "Inner"}),
        namespace="org.example",
    )


def test_named_types_referenced_later_by_short_or_full_name() -> None:
    old = nested(field("id", "string"))
    new = nested(field("id", "string"), field("size", "int"))
    assert check_pair(old, old) == []
    problems = backward(check_pair(old, new))
    paths = sorted(problem.split(":")[1].strip() for problem in problems)
    assert paths == [
        "Outer.first.size",
        "Outer.full_ref.size",
        "Outer.in_array[].size",
        "Outer.in_union[Inner].size",
        "Outer.short_ref.size",
    ]


def test_a_reference_defined_only_in_a_field_the_reader_skips_still_resolves() -> None:
    writer = record(
        "Outer",
        field("dropped", {"type": "enum", "name": "Kind", "symbols": ["A"]}),
        field("kind", "Kind"),
    )
    reader = record(
        "Outer",
        field("kind", {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}),
    )
    assert can_read(reader, writer) == []


def test_names_resolve_in_the_enclosing_namespace() -> None:
    schema = record(
        "Outer",
        field("a", record("Inner", field("x", "int"), namespace="org.other")),
        field("b", record("Inner", field("y", "string"))),
        field("c", "Inner"),
        field("d", "org.other.Inner"),
        namespace="org.example",
    )
    assert check_pair(schema, schema) == []
    # "Inner" in org.example is the record with field y, so c cannot read the x record.
    reader = copy.deepcopy(schema)
    reader["fields"][2]["type"] = "org.other.Inner"
    problems = can_read(reader, schema)
    assert problems == [
        "Outer.c.x: reader field 'x' has no default and the writer record 'Inner' has no such field"
    ]


def test_an_unknown_type_name_is_reported_not_raised() -> None:
    broken = record("Event", field("ref", "Missing"))
    assert can_read(broken, broken) == [
        "Event.ref: the reader schema refers to unknown type 'Missing'"
    ]


LINKED_LIST = record(
    "Node",
    field("value", "int"),
    field("next", ["null", "Node"], default=None),
    namespace="org.example",
)


@pytest.mark.timeout(10)
def test_a_recursive_schema_does_not_hang() -> None:
    assert check_pair(LINKED_LIST, LINKED_LIST) == []
    wider = copy.deepcopy(LINKED_LIST)
    wider["fields"][0]["type"] = "long"
    assert check_pair(LINKED_LIST, wider) == [
        "forward: Node.value: reader type int cannot read writer type long"
    ]


@pytest.mark.timeout(10)
def test_mutually_recursive_schemas_do_not_hang() -> None:
    tree = record(
        "Tree",
        field("label", "string"),
        field(
            "children",
            {
                "type": "array",
                "items": record("Branch", field("weight", "int"), field("subtree", "Tree")),
            },
        ),
    )
    assert check_pair(tree, tree) == []


def test_problem_messages_name_the_field_path_through_union_branches() -> None:
    status = {"type": "enum", "name": "TaskStatus", "symbols": ["PENDING", "DONE"]}
    created = record("TaskCreated", field("status", status))
    old = record("TaskEvent", field("payload", [created]))
    new = copy.deepcopy(old)
    new["fields"][0]["type"][0]["fields"][0]["type"]["symbols"].append("BLOCKED")
    problems = check_pair(old, new)
    assert len(problems) == 1
    assert problems[0].startswith("forward: TaskEvent.payload[TaskCreated].status: ")
    assert "BLOCKED" in problems[0]


def test_the_real_schemas_exist() -> None:
    assert SCHEMA_FILES, f"no schemas under {SCHEMAS}"


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_schema_is_compatible_with_itself(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert check_pair(schema, schema) == []


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_real_schema_with_a_new_required_field_breaks_backward(path: Path) -> None:
    old = json.loads(path.read_text(encoding="utf-8"))
    new = copy.deepcopy(old)
    new["fields"].append(field("added_without_default", "string"))
    assert check_pair(old, new) == [
        f"backward: {old['name']}.added_without_default: reader field 'added_without_default' "
        f"has no default and the writer record '{old['name']}' has no such field"
    ]
