"""Seal and open the PHI fields of an event (the fields its schema marks ``"phi": true``).

Sealing an event (the producer SDK does it when a keyring is configured):

* a patient snapshot's PHI (MRN, names, date of birth) becomes one token in
  ``sealed_phi``; ``mrn`` then carries the keyed blind index of the MRN (so rows of one
  patient still match and the unique MRN constraint still holds), the other PHI fields
  are null;
* every other PHI string (task description, reasons, notes, summaries) is replaced in
  place by its token.

One data key per event; every token is bound to its field's schema path. Opening is the
exact inverse. Both are idempotent (sealed values are left alone when sealing, plain ones
when opening).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel

from streams.config import Settings
from streams.contracts.catalogue import SchemaCatalogue, phi_paths
from streams.contracts.models import MODEL_VERSIONS, AnyEvent
from streams.errors import ConfigError
from streams.phi.envelope import MessageKey, is_sealed, open_token
from streams.phi.errors import PhiDecryptError
from streams.phi.keyring import KeyProvider, StaticKeyring

__all__ = ["BLIND_INDEXED", "SEALED_FIELD", "PhiSealer", "keyring_from_settings",
           "patient_binding", "phi_field_paths", "record_binding"]

M = TypeVar("M", bound=BaseModel)

#: The record field that carries a record's sealed PHI.
SEALED_FIELD = "sealed_phi"
#: PHI identifiers replaced by their blind index (not nulled) when their record is sealed.
BLIND_INDEXED = frozenset({"PatientSnapshot.mrn"})


def keyring_from_settings(settings: Settings) -> StaticKeyring | None:
    """The keyring the settings name (file or inline JSON), or None when none is set."""
    phi = settings.phi
    if phi.keys_file is not None:
        return StaticKeyring.from_file(phi.keys_file, active=phi.active_key_id)
    if phi.keys is not None:
        return StaticKeyring.from_json(phi.keys.get_secret_value(), active=phi.active_key_id)
    return None


def phi_field_paths(catalogue: SchemaCatalogue | None = None) -> frozenset[str]:
    """``Record.field`` paths marked phi in the schema versions the models mirror."""
    catalogue = catalogue or SchemaCatalogue()
    return frozenset().union(*(
        phi_paths(v.raw) for name in MODEL_VERSIONS
        for v in catalogue.versions(name) if v.version == MODEL_VERSIONS[name]))


class PhiSealer:
    """Seals and opens the PHI fields of events with keys from *provider*."""

    def __init__(self, provider: KeyProvider, catalogue: SchemaCatalogue | None = None) -> None:
        self.provider = provider
        self.paths = phi_field_paths(catalogue)

    @classmethod
    def from_settings(cls, settings: Settings) -> PhiSealer | None:
        """The producer's sealer: None when no keyring is configured (PHI goes in clear)."""
        keyring = keyring_from_settings(settings)
        return None if keyring is None else cls(keyring)

    @classmethod
    def for_sink(cls, settings: Settings) -> PhiSealer | None:
        """The sink's opener: None unless ``open_in_sink`` (then a keyring is required)."""
        if not settings.phi.open_in_sink:
            return None
        sealer = cls.from_settings(settings)
        if sealer is None:
            raise ConfigError("EMR_STREAMS_PHI_OPEN_IN_SINK is set but no keyring is "
                              "configured (EMR_STREAMS_PHI_KEYS_FILE or EMR_STREAMS_PHI_KEYS)")
        return sealer

    # Sealing --------------------------------------------------------------------------

    def seal(self, event: AnyEvent) -> AnyEvent:
        """*event* with its PHI sealed under a fresh data key, each value bound to its
        record: free text to the event's aggregate, a patient's PHI to the patient."""
        return self._seal(event, MessageKey.new(self.provider), record_binding(event))

    def _seal(self, model: M, key: MessageKey, binding: str) -> M:
        cls = type(model).__name__
        updates: dict[str, Any] = {}
        whole = SEALED_FIELD in type(model).model_fields  # PHI sealed as one record
        if whole and getattr(model, SEALED_FIELD) is None:
            updates = self._seal_record(model, cls, key)
        for name in type(model).model_fields:
            value = getattr(model, name)
            if name in updates:
                continue
            if f"{cls}.{name}" in self.paths:
                if not whole and isinstance(value, str) and not is_sealed(value):
                    updates[name] = key.seal(value.encode(), f"{cls}.{name}", binding)
            else:
                new = self._walk(value, lambda m: self._seal(m, key, binding))
                if new is not value:
                    updates[name] = new
        return model.model_copy(update=updates) if updates else model

    def _seal_record(self, model: BaseModel, cls: str, key: MessageKey) -> dict[str, Any]:
        fields = [n for n in type(model).model_fields if f"{cls}.{n}" in self.paths]
        plain = {n: _jsonable(getattr(model, n)) for n in fields}
        updates: dict[str, Any] = {n: None for n in fields}
        for name in fields:
            if f"{cls}.{name}" in BLIND_INDEXED:
                updates[name] = self.provider.blind_index(str(getattr(model, name)))
        updates[SEALED_FIELD] = key.seal(json.dumps(plain, separators=(",", ":")).encode(),
                                         cls, patient_binding(str(updates["mrn"])))
        return updates

    # Opening --------------------------------------------------------------------------

    def open(self, event: AnyEvent) -> AnyEvent:
        """*event* with its PHI in plain text; PhiKeyError or PhiDecryptError if it cannot
        (a value sealed for another field, aggregate or patient does not open)."""
        return self._open(event, record_binding(event))

    def _open(self, model: M, binding: str) -> M:
        cls = type(model).__name__
        updates: dict[str, Any] = {}
        whole = SEALED_FIELD in type(model).model_fields
        if whole and getattr(model, SEALED_FIELD):
            updates = self._open_record(model, cls)
        for name in type(model).model_fields:
            value = getattr(model, name)
            if name in updates:
                continue
            if f"{cls}.{name}" in self.paths:
                if not whole and is_sealed(value):
                    updates[name] = open_token(self.provider, value, f"{cls}.{name}",
                                               binding).decode()
            else:
                new = self._walk(value, lambda m: self._open(m, binding))
                if new is not value:
                    updates[name] = new
        return model.model_copy(update=updates) if updates else model

    def _open_record(self, model: BaseModel, cls: str) -> dict[str, Any]:
        plain = open_token(self.provider, getattr(model, SEALED_FIELD), cls,
                           patient_binding(str(getattr(model, "mrn"))))  # noqa: B009
        try:
            values = json.loads(plain)
            fields = {n for n in type(model).model_fields if f"{cls}.{n}" in self.paths}
            if not isinstance(values, dict) or set(values) != fields:
                raise ValueError
            # Validate through the model: a sealed date comes back as a date.
            opened = type(model).model_validate(
                {**model.model_dump(), **values, SEALED_FIELD: None})
        except ValueError:
            raise PhiDecryptError(f"{cls}: the sealed fields do not match the schema") from None
        return {n: getattr(opened, n) for n in fields} | {SEALED_FIELD: None}

    @staticmethod
    def _walk(value: Any, visit: Any) -> Any:
        if isinstance(value, BaseModel):
            return visit(value)
        if isinstance(value, tuple) and any(isinstance(v, BaseModel) for v in value):
            items = tuple(visit(v) if isinstance(v, BaseModel) else v for v in value)
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        return value


def record_binding(event: AnyEvent) -> str:
    """What the free text of *event* is bound to: its aggregate."""
    return f"{event.aggregate_type}:{event.aggregate_id}"


def patient_binding(mrn_index: str) -> str:
    """What a patient's sealed PHI is bound to: the patient (the MRN's blind index, which
    ``patients.mrn`` stores, so a stored token can be opened with its row)."""
    return f"patient:{mrn_index}"


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value
