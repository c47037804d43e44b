"""Avro encoding of events: single-object encoding by default, Confluent framing with a registry.

* Single-object encoding (Avro spec): ``C3 01`` + the writer schema's CRC-64-AVRO
  fingerprint (8 bytes, little-endian) + the Avro binary body. Needs no server: the
  fingerprint is looked up in the catalogue built from ``schemas/``.
* Confluent wire format: ``00`` + the registry's schema id (4 bytes, big-endian) + body.
  Used for writing when a schema registry is configured; subjects follow the record-name
  strategy (the subject is the record's full name).

Readers detect the framing from the first bytes and resolve the writer schema to the
newest local version of the same schema (Avro's schema resolution). A message larger than
the codec's ``Limits.max_message_bytes`` is rejected before anything is read, and a decoded
record that breaks another bound raises ``BoundsError`` (see ``streams.contracts.bounds``).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from streams.contracts.bounds import DEFAULT_LIMITS, Limits, check_record, check_size
from streams.contracts.catalogue import (
    SchemaCatalogue,
    SchemaVersion,
    crc64_fingerprint,
    parse_record_schema,
)
from streams.contracts.errors import (
    EncodeError,
    SchemaCatalogueError,
    SchemaMismatchError,
    TruncatedMessageError,
    UnknownSchemaError,
)

__all__ = ["CONFLUENT_MAGIC", "SOE_MAGIC", "AvroCodec", "Decoded", "Framing", "SchemaRegistry"]

SOE_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
Framing = Literal["single-object", "confluent"]


class SchemaRegistry(Protocol):
    """What the codec needs from a schema registry (implemented in streams.kafka)."""

    def register(self, subject: str, schema_str: str) -> int:
        """Register (or find) *schema_str* under *subject*; return its global id."""
        ...

    def lookup(self, schema_id: int) -> str:
        """The schema text registered under *schema_id*."""
        ...


@dataclass(frozen=True)
class Decoded:
    """A decoded event: its schema (catalogue name), how it was framed, and its fields."""

    schema: str
    framing: Framing
    writer_fingerprint: bytes
    record: dict[str, Any]


def _field_paths(exc: ValidationError) -> str:
    # fastavro's messages quote the offending values (possibly PHI): keep field paths only.
    paths = sorted({str(getattr(item, "field", "") or "?") for item in exc.errors})
    return ", ".join(paths[:5])


class AvroCodec:
    """Encode and decode the project's events (thread-safe for reads after construction)."""

    def __init__(self, catalogue: SchemaCatalogue, *, registry: SchemaRegistry | None = None,
                 versions: Mapping[str, int] | None = None,
                 limits: Limits | None = DEFAULT_LIMITS) -> None:
        """*versions* pins, per schema, the version this code writes and reads into (the
        one its models mirror); unpinned schemas use their newest file. A newer file in
        the folder then only teaches the reader new *writer* schemas. *limits* bounds what
        ``decode`` accepts (default: the settings' defaults); ``None`` leaves only the
        schema's own types, for tests of the Avro layer alone."""
        self.catalogue = catalogue
        self.limits = limits
        self._registry = registry
        self._versions = dict(versions or {})
        self._ids: dict[bytes, int] = {}
        self._writers: dict[int, tuple[str, dict[str, Any], bytes]] = {}

    @property
    def framing(self) -> Framing:
        """What ``encode`` writes."""
        return "confluent" if self._registry is not None else "single-object"

    def version(self, name: str) -> SchemaVersion:
        """The version of *name* this codec writes, and resolves what it reads into."""
        pinned = self._versions.get(name)
        if pinned is None:
            return self.catalogue.latest(name)
        for version in self.catalogue.versions(name):
            if version.version == pinned:
                return version
        raise UnknownSchemaError(f"{name} v{pinned} is not in {self.catalogue.folder}")

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        """Encode *record* with this codec's version of *name*; EncodeError if it differs."""
        version = self.version(name)
        try:
            validate(record, version.parsed, raise_errors=True)
        except ValidationError as exc:
            raise EncodeError(f"event does not match schema {name} v{version.version} "
                              f"(fields: {_field_paths(exc)})") from None
        body = io.BytesIO()
        schemaless_writer(body, version.parsed, record)
        if self._registry is None:
            return SOE_MAGIC + version.fingerprint + body.getvalue()
        schema_id = self._ids.get(version.fingerprint)
        if schema_id is None:
            schema_id = self._registry.register(version.full_name, version.schema_str)
            self._ids[version.fingerprint] = schema_id
        return CONFLUENT_MAGIC + struct.pack(">I", schema_id) + body.getvalue()

    def decode(self, data: bytes | None) -> Decoded:
        """Decode either framing, resolved into this codec's version of the schema.

        Raises a DecodeError: MessageTooLargeError (checked first, before any allocation),
        TruncatedMessageError, UnknownSchemaError, SchemaMismatchError, or BoundsError when
        the record decodes but breaks one of the codec's limits.
        """
        if not data:
            raise TruncatedMessageError("empty message value")
        if self.limits is not None:
            check_size(data, self.limits)
        if data[:2] == SOE_MAGIC:
            if len(data) < 10:
                raise TruncatedMessageError("single-object header shorter than 10 bytes")
            writer = self.catalogue.by_fingerprint(data[2:10])
            name, writer_schema, fp, framing = writer.name, writer.parsed, writer.fingerprint, \
                "single-object"
            body = data[10:]
        elif data[:1] == CONFLUENT_MAGIC:
            if len(data) < 5:
                raise TruncatedMessageError("Confluent header shorter than 5 bytes")
            name, writer_schema, fp = self._confluent_writer(struct.unpack(">I", data[1:5])[0])
            framing = "confluent"
            body = data[5:]
        else:
            raise UnknownSchemaError(
                f"unknown framing (first bytes {data[:2].hex()}): neither Avro single-object "
                "encoding (c301) nor Confluent wire format (00)")
        reader = self.version(name)
        # Same schema: no resolution to do (fastavro skips it: a fifth of the decode time).
        resolve_into = None if fp == reader.fingerprint else reader.parsed
        record = self._read(body, writer_schema, resolve_into, name)
        if self.limits is not None:
            check_record(name, record, self.limits)
        return Decoded(name, framing, fp, record)  # type: ignore[arg-type]

    def _confluent_writer(self, schema_id: int) -> tuple[str, dict[str, Any], bytes]:
        cached = self._writers.get(schema_id)
        if cached is not None:
            return cached
        if self._registry is None:
            raise UnknownSchemaError(f"Confluent-framed message (schema id {schema_id}) but no "
                                     "schema registry is configured")
        try:
            raw = json.loads(self._registry.lookup(schema_id))
            parsed = parse_record_schema(raw)
        except (ValueError, TypeError, KeyError, SchemaCatalogueError) as exc:
            raise UnknownSchemaError(f"schema id {schema_id}: unusable schema") from exc
        full_name = f"{raw.get('namespace', '')}.{raw.get('name', '')}".lstrip(".")
        entry = (self.catalogue.by_full_name(full_name), parsed, crc64_fingerprint(parsed))
        self._writers[schema_id] = entry
        return entry

    @staticmethod
    def _read(body: bytes, writer: dict[str, Any], reader: dict[str, Any] | None,
              name: str) -> dict[str, Any]:
        buffer = io.BytesIO(body)
        try:
            record = schemaless_reader(buffer, writer, reader)
        except EOFError:
            raise TruncatedMessageError(f"{name}: Avro body ends early") from None
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeDecodeError,
                AttributeError, struct.error, MemoryError) as exc:
            if buffer.tell() >= len(body) and not isinstance(exc, OverflowError):
                # The reader ran out of bytes mid-value: fastavro reports it in many ways
                # (an OverflowError is a whole timestamp beyond Python's datetime range).
                raise TruncatedMessageError(f"{name}: Avro body ends early") from None
            raise SchemaMismatchError(f"{name}: body does not decode with its writer schema "
                                      f"({type(exc).__name__})") from None
        if buffer.tell() != len(body):
            raise SchemaMismatchError(f"{name}: {len(body) - buffer.tell()} bytes left after "
                                      "the Avro body")
        if not isinstance(record, dict):
            raise SchemaMismatchError(f"{name}: body is not a record")
        return record
