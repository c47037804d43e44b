"""Event contracts shared by adapters, the processor and downstream consumers."""

from __future__ import annotations

from streams.contracts.bounds import Limits
from streams.contracts.catalogue import SchemaCatalogue
from streams.contracts.codec import AvroCodec, Decoded
from streams.contracts.errors import (
    BoundsError,
    ContractError,
    DecodeError,
    EncodeError,
    MessageTooLargeError,
    SchemaMismatchError,
    TruncatedMessageError,
    UnknownSchemaError,
)

__all__ = [
    "AvroCodec",
    "BoundsError",
    "ContractError",
    "DecodeError",
    "Decoded",
    "EncodeError",
    "Limits",
    "MessageTooLargeError",
    "SchemaCatalogue",
    "SchemaMismatchError",
    "TruncatedMessageError",
    "UnknownSchemaError",
]
