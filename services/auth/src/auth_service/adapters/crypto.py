"""Refresh tokens at rest: AES-GCM with a key id, so keys can rotate without re-linking.

The associated data binds a ciphertext to its connection: a sealed token copied onto another
connection's document fails to open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auth_service.domain.models import EncryptedSecret


class TokenCipherError(Exception):
    """The ciphertext names an unknown key or was tampered with."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


class TokenCipher:
    def __init__(self, keys: dict[str, bytes], active_kid: str) -> None:
        if active_kid not in keys:
            raise ValueError(f"active key id {active_kid!r} is not among the configured keys")
        for kid, key in keys.items():
            if len(key) not in (16, 24, 32):
                raise ValueError(f"token encryption key {kid!r} must be 16, 24 or 32 bytes")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active_kid = active_kid

    @classmethod
    def from_config(cls, keys: dict[str, str], active_kid: str | None) -> TokenCipher:
        decoded = {
            kid: base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_")
            for kid, value in keys.items()
        }
        return cls(decoded, active_kid or next(iter(decoded)))

    @classmethod
    def ephemeral(cls) -> TokenCipher:
        """A random key for development: tokens do not survive a restart."""
        return cls({"ephemeral": AESGCM.generate_key(bit_length=256)}, "ephemeral")

    def seal(self, plaintext: str, context: str) -> EncryptedSecret:
        nonce = os.urandom(12)
        sealed = self._keys[self.active_kid].encrypt(nonce, plaintext.encode(), context.encode())
        return EncryptedSecret(kid=self.active_kid, nonce=_b64(nonce), ciphertext=_b64(sealed))

    def open(self, secret: EncryptedSecret, context: str) -> str:
        key = self._keys.get(secret.kid)
        if key is None:
            raise TokenCipherError(f"no key {secret.kid!r} to decrypt with")
        try:
            nonce = base64.urlsafe_b64decode(secret.nonce)
            data = base64.urlsafe_b64decode(secret.ciphertext)
            return key.decrypt(nonce, data, context.encode()).decode()
        except (InvalidTag, ValueError) as error:
            raise TokenCipherError("ciphertext does not open") from error

    def needs_rotation(self, secret: EncryptedSecret) -> bool:
        return secret.kid != self.active_kid
