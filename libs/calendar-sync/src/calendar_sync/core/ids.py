"""Deterministic provider event ids: the same intent always maps to the same id, so a retried
insert hits "already exists" instead of creating a second event.

An intent is (appointment id, entry key, generation). The generation grows each time an entry
is created again after it was released or deleted, because Google keeps a deleted event's id
for ever (``status: cancelled``) and would refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

_BASE32HEX_ALPHABET = frozenset("0123456789abcdefghijklmnopqrstuv")
_NAMESPACE = uuid.UUID("6f1c7d3e-2b8a-4c59-9e0f-5a4b3c2d1e0f")


def _digest(appointment_id: str, entry_key: str, generation: int, salt: str) -> bytes:
    material = f"{salt}\x1f{appointment_id}\x1f{entry_key}\x1f{generation}".encode()
    return hashlib.sha256(material).digest()


def google_event_id(appointment_id: str, entry_key: str, generation: int, *, salt: str = "vs1") -> str:
    """A Google Calendar client event id: base32hex (``0-9a-v``), 52 characters, lower case.

    Deterministic in its inputs; ``salt`` lets a deployment separate id spaces (e.g. tests).
    """
    encoded = base64.b32hexencode(_digest(appointment_id, entry_key, generation, salt)).decode()
    return encoded.rstrip("=").lower()


def is_base32hex_id(value: str) -> bool:
    """Google's rule for client-chosen ids: characters ``a-v0-9``, length 5 to 1024."""
    return 5 <= len(value) <= 1024 and set(value) <= _BASE32HEX_ALPHABET


def transaction_id(appointment_id: str, entry_key: str, generation: int, *, salt: str = "vs1") -> str:
    """A Microsoft Graph ``transactionId`` (UUID form), deterministic in its inputs."""
    return str(uuid.uuid5(_NAMESPACE, f"{salt}\x1f{appointment_id}\x1f{entry_key}\x1f{generation}"))
