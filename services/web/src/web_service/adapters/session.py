"""The browser's session, sealed (encrypted and authenticated) into one HttpOnly cookie.

Fernet (AES-CBC + HMAC, with a timestamp) from ``cryptography``: the cookie can be neither read
nor altered by the browser, and one older than ``session_ttl_seconds`` is ignored. MultiFernet
opens cookies sealed with any configured key and seals with the first, so keys can rotate.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

COOKIE_NAME = "vs_session"
MAX_REMEMBERED = 8  # reception codes / guest links kept per browser; the oldest are dropped


@dataclass
class Session:
    """What one browser holds: the CSRF token, and for a host the API tokens.

    ``codes`` maps a hashed guest token to the reception code the guest received (the guest
    API shows it only in the pick's answer; this lets a reopened link show it again).
    ``links`` maps an appointment id to the guest URL shown once at creation.
    """

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    access_token: str | None = None
    refresh_token: str | None = None
    email: str | None = None
    tenant_id: str | None = None
    codes: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    changed: bool = False

    @property
    def signed_in(self) -> bool:
        return self.access_token is not None

    def remember(self, store: dict[str, str], key: str, value: str) -> None:
        store.pop(key, None)
        store[key] = value
        while len(store) > MAX_REMEMBERED:
            store.pop(next(iter(store)))
        self.changed = True

    def sign_in(self, tokens: dict[str, Any], email: str, tenant_id: str) -> None:
        self.access_token = str(tokens["access_token"])
        self.refresh_token = str(tokens.get("refresh_token") or "") or None
        self.email, self.tenant_id = email, tenant_id
        self.csrf = secrets.token_urlsafe(24)  # a new session gets a new CSRF token
        self.changed = True

    def sign_out(self) -> None:
        self.access_token = self.refresh_token = self.email = self.tenant_id = None
        self.links.clear()
        self.csrf = secrets.token_urlsafe(24)
        self.changed = True

    def dump(self) -> dict[str, Any]:
        return {
            "csrf": self.csrf,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "email": self.email,
            "tenant_id": self.tenant_id,
            "codes": self.codes,
            "links": self.links,
        }


class SessionCodec:
    def __init__(self, keys: list[str], ttl_seconds: int) -> None:
        if not keys:
            log.warning("WEB_SESSION_KEYS unset: sessions sealed with a throwaway key die with this process")
            keys = [Fernet.generate_key().decode()]
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        self._ttl = ttl_seconds

    def seal(self, session: Session) -> str:
        return self._fernet.encrypt(json.dumps(session.dump()).encode()).decode()

    def open(self, cookie: str | None) -> Session:
        """The session in ``cookie``, or a fresh one when it is missing, forged or too old."""
        if not cookie:
            return Session(changed=True)
        try:
            data = json.loads(self._fernet.decrypt(cookie.encode(), ttl=self._ttl))
            return Session(
                csrf=str(data["csrf"]),
                access_token=data.get("access_token"),
                refresh_token=data.get("refresh_token"),
                email=data.get("email"),
                tenant_id=data.get("tenant_id"),
                codes=dict(data.get("codes") or {}),
                links=dict(data.get("links") or {}),
            )
        except (InvalidToken, ValueError, KeyError, TypeError):
            return Session(changed=True)
