"""Event contracts shared by adapters, the processor and downstream consumers."""

from __future__ import annotations

from streams.contracts.catalogue import SchemaCatalogue
from streams.contracts.codec import AvroCodec, Decoded
from streams.contracts.errors import (
    ContractError,
    DecodeError,
    EncodeError,
    SchemaMismatchError,
    TruncatedMessageError,
    UnknownSchemaError,
)

__all__ = [
    "AvroCodec",
    "ContractError",
    "DecodeError",
    "Decoded",
    "EncodeError",
    "SchemaCatalogue",
    "SchemaMismatchError",
    "TruncatedMessageError",
    "UnknownSchemaError",
]
