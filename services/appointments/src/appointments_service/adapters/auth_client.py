"""Client of the auth service's internal API (contracts.connections), with a service token."""

from __future__ import annotations

import time

import httpx
from pydantic import ValidationError

from appointments_service.service_layer.ports import AuthUnavailable
from visitor_common.contracts.connections import ConnectionInfo, ServiceToken

_TOKEN_MARGIN_SECONDS = 30.0


class HttpConnectionDirectory:
    """``ConnectionDirectory`` over HTTP. The service token is cached until shortly before expiry
    and fetched again once when the auth service answers 401."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: str | None = None
        self._token_expires = 0.0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _service_token(self, *, fresh: bool = False) -> str:
        if not fresh and self._token is not None and time.monotonic() < self._token_expires:
            return self._token
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        response = await self._client.post("/internal/v1/service-token", data=form)
        if response.status_code != 200:
            raise AuthUnavailable(f"service-token request answered {response.status_code}")
        token = ServiceToken.model_validate(response.json())
        self._token = token.access_token
        self._token_expires = time.monotonic() + max(0.0, token.expires_in - _TOKEN_MARGIN_SECONDS)
        return self._token

    async def _get(self, path: str) -> ConnectionInfo | None:
        try:
            response = await self._authorized_get(path)
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise AuthUnavailable(f"{path} answered {response.status_code}")
            return ConnectionInfo.model_validate(response.json())
        except (httpx.HTTPError, ValidationError, ValueError) as error:
            raise AuthUnavailable(f"auth service unavailable: {type(error).__name__}") from error

    async def _authorized_get(self, path: str) -> httpx.Response:
        token = await self._service_token()
        response = await self._client.get(path, headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 401:
            token = await self._service_token(fresh=True)
            response = await self._client.get(path, headers={"Authorization": f"Bearer {token}"})
        return response

    async def active_connection(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None:
        path = f"/internal/v1/tenants/{_seg(tenant_id)}/employees/{_seg(employee_id)}/calendar-connection"
        return await self._get(path)

    async def connection(self, connection_id: str) -> ConnectionInfo | None:
        return await self._get(f"/internal/v1/calendar-connections/{_seg(connection_id)}")


def _seg(value: str) -> str:
    """One path segment, percent-encoded (ids come from tokens and documents, not from URLs)."""
    from urllib.parse import quote

    return quote(value, safe="")
