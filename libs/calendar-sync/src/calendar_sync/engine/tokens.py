"""Client of the auth service's internal API (``visitor_common.contracts.connections``).

- a service token by client credentials (``POST /internal/v1/service-token``), cached until
  shortly before it expires and fetched again once on a 401;
- connection lookups (by id, or the employee's active connection);
- access tokens per connection (``POST .../access-token``), cached until shortly before they
  expire; ``force_refresh=True`` (after a provider 401) bypasses the cache and asks the auth
  service with ``?force_refresh=true``.

A 409 ``reauth_required`` raises ``ReauthRequired`` (the host must relink: report ``failed``,
never retry); ``connection_inactive`` or 404 raise ``ConnectionInactive``; transport errors and
5xx raise ``AuthServiceUnavailable`` (retriable).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from calendar_sync.core.errors import (
    AuthServiceUnavailable,
    ConnectionInactive,
    ReauthRequired,
    TokenError,
)
from visitor_common.contracts.connections import AccessTokenGrant, ConnectionInfo, ServiceToken

Clock = Callable[[], float]


class AuthTokenClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        token_margin_seconds: float = 60.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._owns_http = http is None
        self._clock = clock
        self._margin = token_margin_seconds
        self._service_token: tuple[str, float] | None = None
        self._grants: dict[str, AccessTokenGrant] = {}
        self._grant_locks: dict[str, asyncio.Lock] = {}
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------ public API

    async def connection(self, connection_id: str) -> ConnectionInfo:
        body = await self._call("GET", f"/internal/v1/calendar-connections/{connection_id}")
        return ConnectionInfo.model_validate(body)

    async def connection_for_employee(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None:
        """The employee's active connection, or None when there is none."""
        path = f"/internal/v1/tenants/{tenant_id}/employees/{employee_id}/calendar-connection"
        try:
            body = await self._call("GET", path)
        except ConnectionInactive:
            return None
        return ConnectionInfo.model_validate(body)

    async def access_token(self, connection_id: str, *, force_refresh: bool = False) -> AccessTokenGrant:
        """A usable access token; concurrent callers for one connection share one request."""
        before = self._grants.get(connection_id)
        async with self._grant_locks.setdefault(connection_id, asyncio.Lock()):
            cached = self._grants.get(connection_id)
            # A refresh is pointless if another caller replaced the token meanwhile.
            replaced = (
                cached is not None and before is not None and cached.access_token != before.access_token
            )
            if cached is not None and self._fresh(cached.expires_at) and (not force_refresh or replaced):
                return cached
            params = {"force_refresh": "true"} if force_refresh else None
            body = await self._call(
                "POST", f"/internal/v1/calendar-connections/{connection_id}/access-token", params=params
            )
            grant = AccessTokenGrant.model_validate(body)
            self._grants[connection_id] = grant
            return grant

    def forget(self, connection_id: str) -> None:
        self._grants.pop(connection_id, None)

    # ------------------------------------------------------------ internals

    def _fresh(self, expires_at: datetime) -> bool:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return expires_at.timestamp() - self._margin > self._clock()

    async def _service_bearer(self, *, renew: bool = False) -> str:
        async with self._lock:
            if self._service_token and not renew and self._service_token[1] > self._clock():
                return self._service_token[0]
            try:
                response = await self._http.post(
                    f"{self._base}/internal/v1/service-token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._client_id,
                        "client_secret": self._client_secret,
                    },
                )
            except httpx.HTTPError as error:
                raise AuthServiceUnavailable(f"auth service unreachable: {type(error).__name__}") from error
            if response.status_code != 200:
                raise _service_token_error(response)
            token = ServiceToken.model_validate(response.json())
            expires = self._clock() + max(token.expires_in - self._margin, token.expires_in / 2)
            self._service_token = (token.access_token, expires)
            return token.access_token

    async def _call(self, method: str, path: str, *, params: dict[str, str] | None = None) -> Any:
        renewed = False
        while True:
            bearer = await self._service_bearer(renew=renewed)
            try:
                response = await self._http.request(
                    method,
                    f"{self._base}{path}",
                    params=params,
                    headers={"Authorization": f"Bearer {bearer}"},
                )
            except httpx.HTTPError as error:
                raise AuthServiceUnavailable(f"auth service unreachable: {type(error).__name__}") from error
            if response.status_code == 401 and not renewed:
                renewed = True
                continue
            if response.is_success:
                return response.json()
            raise _error_for(response)


def _problem(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("code") or ""), str(body.get("detail") or body.get("title") or "")


def _error_for(response: httpx.Response) -> TokenError:
    code, detail = _problem(response)
    status = response.status_code
    if code == "reauth_required":
        return ReauthRequired(detail or "The calendar connection must be linked again.")
    if code == "connection_inactive" or status == 404:
        return ConnectionInactive(detail or "The calendar connection is no longer active.")
    if status == 409:
        return ConnectionInactive(detail or f"The calendar connection is not usable ({code}).")
    if status >= 500 or status == 429:
        return AuthServiceUnavailable(f"auth service answered {status}")
    return TokenError(f"auth service refused the request: {status} {code}".strip())


def _service_token_error(response: httpx.Response) -> TokenError:
    if response.status_code >= 500:
        return AuthServiceUnavailable(f"auth service answered {response.status_code}")
    return TokenError(f"service credential refused by the auth service ({response.status_code})")
