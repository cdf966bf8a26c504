"""The connectors' internal API as the auth service uses it: release a connection's holds
before its grant is revoked (decision 0011)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import httpx

from visitor_common.contracts.connections import HoldsReleased
from visitor_common.events import Provider

log = logging.getLogger(__name__)


class HoldReleaser(Protocol):
    async def release_holds(self, provider: Provider, connection_id: str) -> HoldsReleased | None:
        """What the connector released, or None when it could not be asked (or did not answer)."""


class HttpHoldReleaser:
    """Calls ``POST {connector}/internal/v1/calendar-connections/{id}/release-holds`` with a
    service token the auth service signs for itself; bounded by ``timeout`` seconds."""

    def __init__(
        self,
        urls: dict[Provider, str],
        service_token: Callable[[], str],
        *,
        timeout: float,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._urls = {p: u.rstrip("/") for p, u in urls.items() if u}
        self._token = service_token
        self._http = http or httpx.AsyncClient(timeout=timeout)

    async def release_holds(self, provider: Provider, connection_id: str) -> HoldsReleased | None:
        base = self._urls.get(provider)
        if base is None:
            log.warning("no connector URL configured; holds not released", extra={"provider": provider.value})
            return None
        url = f"{base}/internal/v1/calendar-connections/{connection_id}/release-holds"
        try:
            response = await self._http.post(url, headers={"Authorization": f"Bearer {self._token()}"})
            response.raise_for_status()
            return HoldsReleased.model_validate(response.json())
        except (httpx.HTTPError, ValueError) as error:
            log.warning(
                "the connector did not release the holds",
                extra={
                    "connection_id": connection_id,
                    "provider": provider.value,
                    "error": type(error).__name__,
                },
            )
            return None

    async def aclose(self) -> None:
        await self._http.aclose()
