"""Errors of the event contracts: input that can never be applied (poison), and schema faults."""

from __future__ import annotations

from streams.errors import StreamsError

__all__ = [
    "BoundsError",
    "CompatibilityError",
    "ContractError",
    "DecodeError",
    "EncodeError",
    "MessageTooLargeError",
    "SchemaCatalogueError",
    "SchemaMismatchError",
    "TruncatedMessageError",
    "UnknownSchemaError",
]


class ContractError(StreamsError):
    """An event breaks its contract; retrying cannot help, it belongs in the dead-letter topic."""


class DecodeError(ContractError):
    """The bytes are not a valid event."""


class TruncatedMessageError(DecodeError):
    """The bytes end before the framing header or the Avro body does."""


class UnknownSchemaError(DecodeError):
    """The fingerprint or schema id names no schema this reader knows."""


class SchemaMismatchError(DecodeError):
    """The body does not decode with its writer schema, or cannot be resolved to the reader's."""


class BoundsError(DecodeError):
    """The event decodes but breaks a configured bound (a length, a count, a range).

    The message names the field and the bound, never the value (values may be PHI).
    """


class MessageTooLargeError(BoundsError):
    """The message is larger than ``max_message_bytes``; it was rejected before decoding."""


class EncodeError(ContractError):
    """An event does not match the schema it is written with."""


class SchemaCatalogueError(StreamsError):
    """The schemas folder is malformed (a file that does not parse, a gap in versions)."""


class CompatibilityError(StreamsError):
    """A schema version breaks backward or forward compatibility with a released one."""
