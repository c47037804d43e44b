"""Key-encryption keys: the provider interface the sealer uses, and a keyring-file provider.

A *data key* (random, 256 bits) is drawn per message and wrapped by the active
key-encryption key (AES key wrap, RFC 3394); the wrapped data key travels with the
ciphertext together with the KEK's id. Rotation: add a key, make it active; old key ids
keep unwrapping as long as they stay in the keyring. A KMS implements ``KeyProvider`` by
calling its wrap/unwrap (encrypt/decrypt) and MAC operations.

Keyring JSON (file or environment)::

    {"active": "2026-11", "keys": {"2026-11": "<base64 32 bytes>", ...},
     "index_key": "<base64 >= 32 bytes>"}

``index_key`` keys the MRN blind index (HMAC-SHA256); it is not rotated with the KEKs,
because the index must stay stable for a patient's rows to match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from streams.phi.errors import PhiDecryptError, PhiKeyError

__all__ = ["KEY_ID", "KeyProvider", "StaticKeyring", "new_keyring"]

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BLIND_INDEX_CHARS = 20


class KeyProvider(Protocol):
    """What the sealer needs from a key store (a keyring file here, a KMS later)."""

    @property
    def active_key_id(self) -> str:
        """The id of the key new data keys are wrapped with."""
        ...

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """Wrap *data_key* with the active key: (key id, wrapped bytes)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        """The data key; PhiKeyError for an unknown key id, PhiDecryptError if it fails."""
        ...

    def blind_index(self, value: str) -> str:
        """A keyed, deterministic token of *value* (20 characters of A-Z and 2-7)."""
        ...


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise PhiKeyError(f"keyring: {what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PhiKeyError(f"keyring: {what} is not valid base64") from None


class StaticKeyring:
    """Key-encryption keys held in memory, loaded from a JSON keyring."""

    def __init__(self, keys: Mapping[str, bytes], active: str, index_key: bytes) -> None:
        for key_id, key in keys.items():
            if not KEY_ID.match(key_id):
                raise PhiKeyError("keyring: key ids are 1 to 64 letters, digits, '_' or '-'")
            if len(key) != 32:
                raise PhiKeyError(f"keyring: key {key_id!r} must be 32 bytes (AES-256)")
        if active not in keys:
            raise PhiKeyError(f"keyring: the active key {active!r} is not in the keyring")
        if len(index_key) < 32:
            raise PhiKeyError("keyring: index_key must be at least 32 bytes")
        self._keys = dict(keys)
        self._active = active
        self._index_key = index_key

    def __repr__(self) -> str:
        return f"StaticKeyring(active={self._active!r}, key_ids={sorted(self._keys)!r})"

    @classmethod
    def from_json(cls, text: str, *, active: str | None = None) -> StaticKeyring:
        """Parse a keyring document; *active* overrides its ``active`` member."""
        try:
            doc = json.loads(text)
        except ValueError:
            raise PhiKeyError("keyring: not valid JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict):
            raise PhiKeyError("keyring: expected an object with a 'keys' object")
        keys = {str(k): _b64(v, f"key {k!r}") for k, v in doc["keys"].items()}
        chosen = active or doc.get("active")
        if not isinstance(chosen, str):
            raise PhiKeyError("keyring: no active key id (set 'active' or the setting)")
        return cls(keys, chosen, _b64(doc.get("index_key"), "index_key"))

    @classmethod
    def from_file(cls, path: Path, *, active: str | None = None) -> StaticKeyring:
        return cls.from_json(cls.read_text(path), active=active)

    @staticmethod
    def read_text(path: Path) -> str:
        """A keyring file's text; PhiKeyError (one line) if it cannot be read as UTF-8."""
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PhiKeyError(f"keyring file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise PhiKeyError(f"keyring file {path}: not UTF-8 text") from None

    @property
    def active_key_id(self) -> str:
        return self._active

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        return self._active, aes_key_wrap(self._keys[self._active], data_key)

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise PhiKeyError(f"unknown PHI key id {key_id!r} (not in the keyring)")
        try:
            return aes_key_unwrap(key, wrapped)
        except (InvalidUnwrap, ValueError):
            raise PhiDecryptError(f"the data key does not unwrap with key {key_id!r} "
                                  "(wrong key or tampered token)") from None

    def blind_index(self, value: str) -> str:
        digest = hmac.new(self._index_key, value.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode()[:_BLIND_INDEX_CHARS]


def new_keyring(key_id: str, existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A keyring document with a fresh key *key_id* made active (added to *existing*)."""
    if not KEY_ID.match(key_id):
        raise PhiKeyError("key ids are 1 to 64 letters, digits, '_' or '-'")
    doc: dict[str, Any] = dict(existing or {})
    keys = dict(doc.get("keys") or {})
    if key_id in keys:
        raise PhiKeyError(f"key {key_id!r} is already in the keyring")
    keys[key_id] = base64.b64encode(os.urandom(32)).decode()
    doc["keys"] = keys
    doc["active"] = key_id
    doc.setdefault("index_key", base64.b64encode(secrets.token_bytes(32)).decode())
    return doc
