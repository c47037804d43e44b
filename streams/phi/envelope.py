"""The sealed-value token: one AES-256-GCM ciphertext with its wrapped data key.

Format (ASCII, dot-separated, base64url without padding)::

    ENC1.<key id>.<wrapped data key>.<nonce (12 bytes)>.<ciphertext + GCM tag>

The associated data is the field's schema path (``PatientSnapshot``,
``TaskCreated.description``): a token moved to another field does not open. Tokens are
self-contained, so a column or JSON value holding one can be decrypted later, anywhere the
keyring is, without the message it came in.
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

__all__ = ["PREFIX", "MessageKey", "has_token_shape", "is_sealed", "open_token"]

PREFIX = "ENC1."
_NONCE = 12


def _enc(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _dec(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def is_sealed(value: object) -> bool:
    """Whether *value* claims to be a sealed-value token (opening it tells whether it is)."""
    return isinstance(value, str) and value.startswith(PREFIX)


#: A token's shape: key id, wrapped key, a 12-byte nonce, ciphertext with its 16-byte tag.
_TOKEN = re.compile(r"ENC1\.[^.\s]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}")


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

    def seal(self, plaintext: bytes, aad: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext, aad.encode())
        return ".".join(("ENC1", self.key_id, _enc(self.wrapped), _enc(nonce), _enc(sealed)))


def open_token(provider: KeyProvider, token: str, aad: str) -> bytes:
    """The plaintext of *token*; PhiKeyError (unknown key id) or PhiDecryptError."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != "ENC1" or not KEY_ID.match(parts[1]):
        raise PhiDecryptError(f"{aad}: malformed sealed value")
    try:
        wrapped, nonce, sealed = _dec(parts[2]), _dec(parts[3]), _dec(parts[4])
    except (binascii.Error, ValueError):
        raise PhiDecryptError(f"{aad}: malformed sealed value") from None
    if len(nonce) != _NONCE:
        raise PhiDecryptError(f"{aad}: malformed sealed value")
    data_key = provider.unwrap(parts[1], wrapped)
    try:
        return AESGCM(data_key).decrypt(nonce, sealed, aad.encode())
    except (InvalidTag, ValueError):
        raise PhiDecryptError(f"{aad}: the sealed value does not authenticate "
                              "(tampered, or sealed for another field)") from None
