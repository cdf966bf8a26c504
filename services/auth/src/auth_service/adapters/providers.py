"""What the linking and token use cases need from a calendar provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from auth_service.domain.models import ProviderIdentity
from visitor_common.events import Provider


class InvalidGrant(Exception):
    """The provider refused the refresh token (revoked, expired): the user must link again."""


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    flow: dict[str, Any] = field(default_factory=dict)  # secrets for the callback (PKCE verifier...)


@dataclass(frozen=True)
class ProviderAccessToken:
    """A provider access token. Lifetime as ``expires_in`` seconds from now: the service turns it
    into a deadline on its own clock."""

    token: str = field(repr=False)
    expires_in: float
    refresh_token: str | None = field(default=None, repr=False)  # set when the provider rotated it


@dataclass(frozen=True)
class LinkedAccount:
    identity: ProviderIdentity
    refresh_token: str = field(repr=False)
    access: ProviderAccessToken
    scopes: list[str]


class ProviderClient(Protocol):
    provider: Provider

    async def begin(self, state: str, login_hint: str | None) -> AuthorizationStart: ...

    async def finish(self, flow: dict[str, Any], params: dict[str, str]) -> LinkedAccount:
        """Exchange the code and verify who signed in. Raises ``AuthServiceError``."""

    async def refresh(self, refresh_token: str) -> ProviderAccessToken:
        """Raises ``InvalidGrant`` or ``AuthServiceError`` (provider unavailable)."""

    async def revoke(self, refresh_token: str) -> bool:
        """Withdraw the grant at the provider; False when that could not be done."""

    def admin_consent_url(self, state: str) -> str | None:
        """Where a tenant administrator grants the app's permissions (Microsoft only)."""
