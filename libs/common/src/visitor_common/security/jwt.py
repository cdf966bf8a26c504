"""Local verification of the auth service's JWTs (every service, every request).

The auth service signs with an asymmetric key and publishes its JWKS; services fetch it once,
cache it, and refetch when a token names an unknown ``kid`` (key rotation), at most once per
``min_refresh_seconds`` so a flood of forged kids cannot hammer the auth service.

A token is checked in full once (340 µs here, most of it the signature); the verifier then
remembers its principal until the token expires, as long as its key is still published, so the
next request with it (a host's console, a long poll, a service's calls) costs a dictionary look-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKSet
from pydantic import BaseModel, ConfigDict

ALGORITHMS = ["EdDSA", "RS256", "ES256"]


class TokenInvalid(Exception):
    """The bearer token is missing, malformed, expired, or not ours. Always a 401."""


class PrincipalKind(StrEnum):
    EMPLOYEE = "employee"
    SERVICE = "service"
    # A front-desk tablet of one tenant: the subject is its device id, never an employee.
    RECEPTION = "reception"


class Principal(BaseModel):
    """Who is calling: an employee of a tenant, an internal service, or a reception device."""

    model_config = ConfigDict(frozen=True)

    kind: PrincipalKind
    subject: str
    tenant_id: str | None = None
    role: str | None = None
    email: str | None = None
    scopes: frozenset[str] = frozenset()
    token: str = ""

    @property
    def employee_id(self) -> str:
        return self.subject

    @property
    def device_id(self) -> str:
        """The reception device's id (``kind`` RECEPTION)."""
        return self.subject


JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


class JwksSource:
    """Holds the current JWKS, from a URL or a static dict (tests, single-process setups)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        static: dict[str, Any] | None = None,
        fetcher: JwksFetcher | None = None,
        min_refresh_seconds: float = 30.0,
    ) -> None:
        self._url = url
        self._fetcher = fetcher
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = 0.0
        self._min_refresh = min_refresh_seconds
        self._lock = asyncio.Lock()
        if static is not None:
            self._load(static)

    def _load(self, jwks: dict[str, Any]) -> None:
        self._keys = {k.key_id: k for k in PyJWKSet.from_dict(jwks).keys if k.key_id}
        self._fetched_at = time.monotonic()

    async def _fetch(self) -> dict[str, Any]:
        if self._fetcher is not None:
            return await self._fetcher()
        if self._url is None:
            return {"keys": []}
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(self._url)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

    def publishes(self, kid: str) -> bool:
        """Whether ``kid`` is in the key set held now (no fetch)."""
        return kid in self._keys

    async def key(self, kid: str) -> PyJWK:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            stale = time.monotonic() - self._fetched_at >= self._min_refresh or not self._keys
            if kid not in self._keys and stale and (self._url or self._fetcher):
                try:
                    self._load(await self._fetch())
                except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
                    raise TokenInvalid("signing keys unavailable") from error
        if kid not in self._keys:
            raise TokenInvalid("unknown signing key")
        return self._keys[kid]


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    kid: str
    expires_at: float


class JwtVerifier:
    def __init__(
        self,
        jwks: JwksSource,
        *,
        issuer: str,
        audience: str,
        leeway: float = 30.0,
        remembered: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._remembered = remembered
        self._clock = clock
        # token -> what its full check found; insertion order is age (the oldest goes first)
        self._verified: dict[str, _Verified] = {}

    async def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and self._jwks.publishes(known.kid):
            if self._clock() >= known.expires_at + self._leeway:
                del self._verified[token]
                raise TokenInvalid("Signature has expired")
            return known.principal
        principal, kid, expires_at = await self._check(token)
        if len(self._verified) >= self._remembered:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = _Verified(principal, kid, expires_at)
        return principal

    async def _check(self, token: str) -> tuple[Principal, str, float]:
        """The full check: header, published key, signature, claims."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise TokenInvalid("malformed token") from error
        if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
            raise TokenInvalid("unsupported token")
        key = await self._jwks.key(header["kid"])
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise TokenInvalid(str(error)) from error
        return principal_from_claims(claims, token), header["kid"], float(claims["exp"])


def principal_from_claims(claims: dict[str, Any], token: str) -> Principal:
    kind = claims.get("typ", PrincipalKind.EMPLOYEE.value)
    if kind not in {k.value for k in PrincipalKind}:
        raise TokenInvalid("unknown principal kind")
    if kind in (PrincipalKind.EMPLOYEE, PrincipalKind.RECEPTION) and not claims.get("tid"):
        raise TokenInvalid(f"{kind} token without tenant")
    scope = claims.get("scope", "")
    return Principal(
        kind=PrincipalKind(kind),
        subject=str(claims["sub"]),
        tenant_id=claims.get("tid"),
        role=claims.get("role"),
        email=claims.get("email"),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        token=token,
    )
