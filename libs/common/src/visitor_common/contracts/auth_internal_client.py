"""The one client of the auth service's internal API (:mod:`visitor_common.contracts.connections`).

- a service token by client credentials, cached until shortly before it expires and fetched
  again once when the auth service answers 401;
- connection lookups (by id, or the employee's active connection; ``None`` when there is none);
- access tokens per connection, cached until shortly before they expire, one request in flight
  per connection; ``force_refresh=True`` (after a provider 401) bypasses the cache.

Every id goes into the URL as one percent-encoded path segment. Failures raise this module's
errors, so each caller maps them onto its own: :class:`AuthUnavailable` (transport, 5xx, 429, a
body that is not the contract: worth retrying), :class:`ConnectionNotUsable` (409
``reauth_required`` / ``connection_inactive``, or no such connection when asking for a token),
:class:`AuthRequestRefused` (the service credential or the request was refused).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from visitor_common import tracecontext
from visitor_common.contracts.connections import AccessTokenGrant, ConnectionInfo, ServiceToken

Clock = Callable[[], float]
_Model = TypeVar("_Model", bound=BaseModel)

PREFIX = "/internal/v1"


class AuthInternalError(Exception):
    """Base of the failures of a call to the auth service's internal API."""

    retriable = False


class AuthUnavailable(AuthInternalError):
    """The auth service did not answer properly (network, 5xx, 429, malformed body)."""

    retriable = True


class AuthRequestRefused(AuthInternalError):
    """The auth service refused the service credential or the request (4xx other than the
    connection answers below). Retrying will not help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class ConnectionNotUsable(AuthInternalError):
    """No access token for this connection: ``code`` is the auth service's problem code
    (``reauth_required``, ``connection_inactive``, ``connection_not_found``...), ``message`` its
    human explanation (empty when it sent none)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message

    @property
    def reauth_required(self) -> bool:
        """The host must link the calendar again (every other code: the connection is gone)."""
        return self.code == "reauth_required"


def path_segment(value: str) -> str:
    """``value`` as exactly one path segment. Ids come from tokens and documents, not from URLs,
    so ``/``, ``?``, ``#`` and ``%`` are escaped, and ``.``/``..`` (which HTTP clients collapse
    as dot segments) are spelled ``%2E``."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in {".", ".."} else encoded


class AuthInternalClient:
    """Client of ``/internal/v1`` with the caller's service credential.

    ``http`` may be shared (the caller then closes it); otherwise one is created with
    ``timeout``. ``margin_seconds``: tokens count as expired that long before their expiry.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        clock: Clock = time.time,
        margin_seconds: float = 60.0,
    ) -> None:
        self._root = base_url.rstrip("/")
        self._base = self._root + PREFIX
        self._credential = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._http = tracecontext.add_trace_hooks(http or httpx.AsyncClient(timeout=timeout))
        self._owns_http = http is None
        self._clock = clock
        self._margin = margin_seconds
        self._service_token: tuple[str, float] | None = None
        self._service_lock = asyncio.Lock()
        self._grants: dict[str, AccessTokenGrant] = {}
        self._grant_locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def reachable(self) -> bool:
        """For ``/readyz``: the auth service answers its liveness route."""
        try:
            response = await self._http.get(f"{self._root}/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    # ------------------------------------------------------------ lookups

    async def connection(self, connection_id: str) -> ConnectionInfo | None:
        """One connection by id, whatever its status; ``None`` when it does not exist."""
        return await self._lookup(f"/calendar-connections/{path_segment(connection_id)}")

    async def active_connection(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None:
        """The employee's active connection; ``None`` when they have not linked a calendar."""
        tenant, employee = path_segment(tenant_id), path_segment(employee_id)
        return await self._lookup(f"/tenants/{tenant}/employees/{employee}/calendar-connection")

    async def _lookup(self, path: str) -> ConnectionInfo | None:
        response = await self._call("GET", path)
        if response.status_code == 404:
            return None
        _raise_for(response)
        return _parse(ConnectionInfo, response)

    # ------------------------------------------------------------ access tokens

    async def access_token(self, connection_id: str, *, force_refresh: bool = False) -> AccessTokenGrant:
        """A usable access token; concurrent callers for one connection share one request."""
        before = self._grants.get(connection_id)
        async with self._grant_locks.setdefault(connection_id, asyncio.Lock()):
            cached = self._grants.get(connection_id)
            # A forced refresh is pointless if another caller replaced the token meanwhile.
            replaced = (
                cached is not None and before is not None and cached.access_token != before.access_token
            )
            if cached is not None and self._fresh(cached.expires_at) and (not force_refresh or replaced):
                return cached
            params = {"force_refresh": "true"} if force_refresh else None
            path = f"/calendar-connections/{path_segment(connection_id)}/access-token"
            response = await self._call("POST", path, params=params)
            if response.status_code == 404:
                code, detail = _problem(response)
                raise ConnectionNotUsable(code or "connection_not_found", detail)
            _raise_for(response)
            grant = _parse(AccessTokenGrant, response)
            self._grants[connection_id] = grant
            return grant

    def forget(self, connection_id: str) -> None:
        """Drop the cached access token (the connection was unlinked or must be relinked)."""
        self._grants.pop(connection_id, None)

    def _fresh(self, expires_at: datetime) -> bool:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return expires_at.timestamp() - self._margin > self._clock()

    # ------------------------------------------------------------ transport

    async def _bearer(self, *, renew: bool = False) -> str:
        async with self._service_lock:
            if self._service_token and not renew and self._service_token[1] > self._clock():
                return self._service_token[0]
            response = await self._send("POST", "/service-token", data=self._credential)
            if response.status_code >= 500:
                raise AuthUnavailable(f"service-token request answered {response.status_code}")
            if response.status_code != 200:
                raise AuthRequestRefused(
                    f"service credential refused by the auth service ({response.status_code})",
                    status=response.status_code,
                )
            token = _parse(ServiceToken, response)
            # Short-lived tokens keep at least half their life rather than none.
            lifetime = max(token.expires_in - self._margin, token.expires_in / 2)
            self._service_token = (token.access_token, self._clock() + lifetime)
            return token.access_token

    async def _call(self, method: str, path: str, *, params: dict[str, str] | None = None) -> httpx.Response:
        """The request with the service token; on 401 once more with a freshly fetched one."""
        response = await self._send(method, path, params=params, bearer=await self._bearer())
        if response.status_code == 401:
            response = await self._send(method, path, params=params, bearer=await self._bearer(renew=True))
        return response

    async def _send(
        self, method: str, path: str, *, bearer: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
        try:
            return await self._http.request(method, f"{self._base}{path}", headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise AuthUnavailable(f"auth service unreachable: {type(error).__name__}") from error


def _parse(model: type[_Model], response: httpx.Response) -> _Model:
    try:
        return model.model_validate(response.json())
    except (ValidationError, ValueError) as error:
        raise AuthUnavailable(f"auth service sent no valid {model.__name__}") from error


def _problem(response: httpx.Response) -> tuple[str, str]:
    """The problem document's ``code`` and human message (``detail``, else ``title``)."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("code") or ""), str(body.get("detail") or body.get("title") or "")


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if response.is_success:
        return
    code, detail = _problem(response)
    if status == 409:
        raise ConnectionNotUsable(code or "connection_inactive", detail)
    if status >= 500 or status == 429:
        raise AuthUnavailable(f"auth service answered {status}")
    raise AuthRequestRefused(f"auth service refused the request: {status} {code}".strip(), status=status)
