"""The Confluent schema registry client, and the codec the settings ask for."""

from __future__ import annotations

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streams.config import Settings
from streams.contracts.bounds import Limits
from streams.contracts.catalogue import SchemaCatalogue
from streams.contracts.codec import AvroCodec
from streams.contracts.errors import UnknownSchemaError
from streams.contracts.models import MODEL_VERSIONS
from streams.kafka.errors import KafkaLayerError

__all__ = ["ConfluentSchemaRegistry", "codec_for"]


class SchemaRegistryUnavailableError(KafkaLayerError):
    """The schema registry refused or could not be reached."""


class ConfluentSchemaRegistry:
    """The codec's SchemaRegistry over confluent-kafka's client (ids and schemas cached)."""

    def __init__(self, url: str) -> None:
        self._client = SchemaRegistryClient({"url": url})

    def close(self) -> None:
        """Close the client's connections (a registry keeps them alive)."""
        self._client.close()

    def register(self, subject: str, schema_str: str) -> int:
        try:
            return int(self._client.register_schema(subject, Schema(schema_str, "AVRO")))
        except SchemaRegistryError as exc:
            raise SchemaRegistryUnavailableError(
                f"cannot register {subject}: {exc.error_message}") from exc

    def lookup(self, schema_id: int) -> str:
        try:
            schema = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise UnknownSchemaError(f"schema id {schema_id} not in the registry") from exc
            raise SchemaRegistryUnavailableError(
                f"cannot look up schema id {schema_id}: {exc.error_message}") from exc
        return str(schema.schema_str)


def codec_for(settings: Settings, catalogue: SchemaCatalogue | None = None) -> AvroCodec:
    """The codec the settings ask for: Confluent framing when a registry URL is set, the
    schema versions the event models mirror, the bounds of ``settings.limits``."""
    url = settings.kafka.schema_registry_url
    registry = ConfluentSchemaRegistry(url) if url else None
    return AvroCodec(catalogue or SchemaCatalogue(settings.kafka.schemas_dir), registry=registry,
                     versions=MODEL_VERSIONS, limits=Limits(**settings.limits.model_dump()))
