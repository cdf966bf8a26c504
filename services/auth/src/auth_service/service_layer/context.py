"""Everything a use case needs, built once by ``bootstrap`` (fakes are swapped in by tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from auth_service.adapters.connectors import HoldReleaser
from auth_service.adapters.crypto import TokenCipher
from auth_service.adapters.providers import ProviderAccessToken, ProviderClient
from auth_service.adapters.repositories import Repositories
from auth_service.adapters.signing import SigningKey
from auth_service.service_layer.throttle import FailureThrottle
from auth_service.settings import Settings
from visitor_common.contracts.connections import HoldsReleased
from visitor_common.events import Provider

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CachedAccessToken:
    token: str = field(repr=False)
    expires_at: datetime

    @classmethod
    def of(cls, token: ProviderAccessToken, now: datetime) -> CachedAccessToken:
        return cls(token=token.token, expires_at=now + timedelta(seconds=token.expires_in))


@dataclass
class AccessTokenCache:
    """Provider access tokens by connection id, in this process only (never stored)."""

    tokens: dict[str, CachedAccessToken] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, connection_id: str) -> asyncio.Lock:
        return self.locks.setdefault(connection_id, asyncio.Lock())

    def forget(self, connection_id: str) -> None:
        self.tokens.pop(connection_id, None)


@dataclass
class SignInThrottle:
    """Sign-in failures counted per account (tenant + e-mail key, whether registered or not) and
    per client address, each with its own allowance (many people may share one address)."""

    accounts: FailureThrottle = field(default_factory=FailureThrottle)
    addresses: FailureThrottle = field(default_factory=lambda: FailureThrottle(max_failures=20))

    def retry_after(self, account: str, address: str) -> int:
        return max(self.accounts.retry_after([account]), self.addresses.retry_after([address]))

    def failed(self, account: str, address: str) -> None:
        self.accounts.failed([account])
        self.addresses.failed([address])

    def succeeded(self, account: str) -> None:
        self.accounts.succeeded(account)


class NoHoldReleaser:
    """No connector to ask (tests without connectors): nothing is released."""

    async def release_holds(self, provider: Provider, connection_id: str) -> HoldsReleased | None:
        return None


@dataclass
class ServiceContext:
    settings: Settings
    repos: Repositories
    cipher: TokenCipher
    signing_key: SigningKey
    providers: dict[Provider, ProviderClient]
    notify_outbox: Callable[[], None] = lambda: None
    clock: Clock = utc_now
    access_tokens: AccessTokenCache = field(default_factory=AccessTokenCache)
    reception_throttle: FailureThrottle = field(default_factory=FailureThrottle)
    sign_in_throttle: SignInThrottle = field(default_factory=SignInThrottle)
    holds: HoldReleaser = field(default_factory=NoHoldReleaser)

    @property
    def source(self) -> str:
        return f"/services/{self.settings.service_name}"
