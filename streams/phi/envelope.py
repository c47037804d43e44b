"""The sealed-value token: one AES-256-GCM ciphertext with its wrapped data key.

Format (ASCII, dot-separated, base64url without padding)::

    ENC2.<key id>.<wrapped data key>.<nonce (12 bytes)>.<ciphertext + GCM tag>

The associated data binds the value to where it belongs: ``<schema path>|<binding>``,
where the path is the field's (``TaskCreated.description``, ``PatientSnapshot`` for a
patient's sealed PHI) and the binding its record: ``<aggregate type>:<aggregate id>`` for
free text, ``patient:<MRN blind index>`` for a patient's PHI. A token moved to another
field, another task or another patient does not open. Tokens are self-contained: a column
holding one opens later, anywhere the keyring is, given its path and binding (the row's
id, the patient's ``mrn`` column).

``ENC1`` tokens (bound to the field path only) are still opened, never written; ``emr-streams
phi reseal`` rewrites stored ones (docs/security.md).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from streams.phi.errors import PhiDecryptError
from streams.phi.keyring import KEY_ID, KeyProvider

__all__ = ["LEGACY_PREFIX", "PREFIX", "MessageKey", "has_token_shape", "is_sealed",
           "open_token"]

PREFIX = "ENC2."
#: The earlier version: associated data = the field path alone (read, never written).
LEGACY_PREFIX = "ENC1."
_NONCE = 12


def _enc(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _dec(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_sealed(value: object) -> bool:
    """Whether *value* claims to be a sealed-value token (opening it tells whether it is)."""
    return isinstance(value, str) and value.startswith((PREFIX, LEGACY_PREFIX))


#: A token's shape: key id, wrapped key, a 12-byte nonce, ciphertext with its 16-byte tag.
_TOKEN = re.compile(r"ENC[12]\.[^.\s]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}")


def has_token_shape(value: object) -> bool:
    """Whether *value* has the exact shape of a token, checked without keys: what may leave
    the database as sealed (plain text that starts with ``ENC1.`` does not)."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


@dataclass
class MessageKey:
    """One message's data key: drawn once, wrapped once, used for each of its fields."""

    key_id: str
    wrapped: bytes
    _aead: AESGCM = field(repr=False)

    @classmethod
    def new(cls, provider: KeyProvider) -> MessageKey:
        data_key = AESGCM.generate_key(bit_length=256)
        key_id, wrapped = provider.wrap(data_key)
        return cls(key_id, wrapped, AESGCM(data_key))

    def seal(self, plaintext: bytes, path: str, binding: str) -> str:
        """An ENC2 token of *plaintext* for the field *path* of the record *binding*."""
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(path, binding).encode())
        return ".".join(("ENC2", self.key_id, _enc(self.wrapped), _enc(nonce), _enc(sealed)))


def _aad(path: str, binding: str) -> str:
    return f"{path}|{binding}"


def open_token(provider: KeyProvider, token: str, path: str, binding: str | None = None
               ) -> bytes:
    """The plaintext of *token* sealed for *path* of the record *binding* (an ENC1 token:
    for *path* alone); PhiKeyError (unknown key id) or PhiDecryptError."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] not in {"ENC1", "ENC2"} or not KEY_ID.match(parts[1]):
        raise PhiDecryptError(f"{path}: malformed sealed value")
    if parts[0] == "ENC2" and binding is None:
        raise PhiDecryptError(f"{path}: an ENC2 value opens only with its record")
    aad = path if parts[0] == "ENC1" else _aad(path, binding or "")
    try:
        wrapped, nonce, sealed = _dec(parts[2]), _dec(parts[3]), _dec(parts[4])
    except (binascii.Error, ValueError):
        raise PhiDecryptError(f"{path}: malformed sealed value") from None
    if len(nonce) != _NONCE:
        raise PhiDecryptError(f"{path}: malformed sealed value")
    data_key = provider.unwrap(parts[1], wrapped)
    try:
        return AESGCM(data_key).decrypt(nonce, sealed, aad.encode())
    except (InvalidTag, ValueError):
        raise PhiDecryptError(f"{path}: the sealed value does not authenticate "
                              "(tampered, or sealed for another field, record or patient)"
                              ) from None
