"""Sealed secrets inside events: AES-GCM with a key id, opened only by who holds the key.

Some events must carry a secret to exactly one consumer (the guest link and the reception code,
from the appointments service to the notifications service). The event stays readable — ids,
slots, addresses — while the secret field holds a :class:`SealedSecret`: the broker, a topic
browser, the logs and any other consumer see only ciphertext. Keys are configured as JSON
``{kid: base64 key}`` in both services; the active kid seals, every configured kid opens, so a
key rotates by adding the new one everywhere, then switching the active kid, then removing the
old one once no message sealed with it can still be in a topic.

The associated data binds a ciphertext to its place (``appointment id`` + field), so a sealed
code copied into another appointment's message does not open.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from typing import Any, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

NONCE_BYTES = 12


class SealError(Exception):
    """A sealed value names an unknown key, was tampered with, or sits in the wrong place."""


class SealedSecret(BaseModel):
    """AES-GCM ciphertext (base64url) and the id of the key that sealed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kid: str = Field(min_length=1, max_length=64)
    nonce: str = Field(min_length=1, max_length=64)
    ciphertext: str = Field(min_length=1, max_length=8192)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_context(appointment_id: str, field: str) -> str:
    """The associated data of a secret: which appointment and which field it belongs to."""
    return f"{appointment_id}/{field}"


class Sealer:
    """Seals with the active key, opens with any configured key."""

    def __init__(self, keys: Mapping[str, bytes], active_kid: str) -> None:
        if active_kid not in keys:
            raise ValueError(f"active key id {active_kid!r} is not among the configured keys")
        for kid, key in keys.items():
            if len(key) not in (16, 24, 32):
                raise ValueError(f"seal key {kid!r} must be 16, 24 or 32 bytes")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active_kid = active_kid

    @classmethod
    def from_config(cls, keys: Mapping[str, str | SecretStr], active_kid: str | None = None) -> Sealer:
        """From settings: ``{kid: base64 key}`` (standard or URL-safe alphabet); the first kid
        is active unless ``active_kid`` names another."""
        if not keys:
            raise ValueError("no seal keys configured")
        decoded: dict[str, bytes] = {}
        for kid, value in keys.items():
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            try:
                decoded[kid] = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_")
            except (binascii.Error, ValueError) as error:
                raise ValueError(f"seal key {kid!r} is not base64") from error
        return cls(decoded, active_kid or next(iter(decoded)))

    @staticmethod
    def generate_key() -> str:
        """A fresh 256-bit key in the configuration's format (for `make run` and tests)."""
        return _b64(AESGCM.generate_key(bit_length=256))

    def seal(self, plaintext: str, context: str) -> SealedSecret:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.active_kid].encrypt(nonce, plaintext.encode(), context.encode())
        return SealedSecret(kid=self.active_kid, nonce=_b64(nonce), ciphertext=_b64(sealed))

    def open(self, secret: SealedSecret, context: str) -> str:
        key = self._keys.get(secret.kid)
        if key is None:
            raise SealError(f"no seal key {secret.kid!r} configured")
        try:
            return key.decrypt(_unb64(secret.nonce), _unb64(secret.ciphertext), context.encode()).decode()
        except (InvalidTag, ValueError, binascii.Error) as error:
            raise SealError("sealed value does not open (tampered, or sealed for another place)") from error


class MailSealSettings(BaseModel):
    """The two settings every service that seals or opens guest messages declares (mix in
    before ``ServiceSettings``: ``class Settings(MailSealSettings, ServiceSettings)``)."""

    mail_seal_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="JSON {kid: base64 AES key (16/24/32 bytes)} sealing the guest link and reception "
        "code in guest messages; the same keys in the appointments and notifications services.",
    )
    mail_seal_active_kid: str | None = Field(
        None, description="Key id that seals new guest messages (default: the first of mail_seal_keys)."
    )

    @field_validator("mail_seal_keys", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _keys_usable(self) -> Self:
        # Refuse a bad key at start-up (python -m exits 2 naming the variable), not at the
        # first guest message.
        if self.mail_seal_keys:
            Sealer.from_config(self.mail_seal_keys, self.mail_seal_active_kid)
        elif self.mail_seal_active_kid is not None:
            raise ValueError("mail_seal_active_kid is set but mail_seal_keys is empty")
        return self

    def mail_sealer(self) -> Sealer | None:
        """The configured sealer, or None when no key is set."""
        if not self.mail_seal_keys:
            return None
        return Sealer.from_config(self.mail_seal_keys, self.mail_seal_active_kid)
