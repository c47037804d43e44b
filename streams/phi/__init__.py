"""Field-level PHI protection: AES-256-GCM envelope encryption of the fields the schemas mark
``"phi": true``, with keys behind a provider interface (a keyring file now, a KMS later)."""

from streams.phi.errors import PhiDecryptError, PhiError, PhiKeyError
from streams.phi.fields import PhiSealer
from streams.phi.keyring import KeyProvider, StaticKeyring

__all__ = ["KeyProvider", "PhiDecryptError", "PhiError", "PhiKeyError", "PhiSealer",
           "StaticKeyring"]
