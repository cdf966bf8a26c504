"""Client of the connectors' rooms / availability API (contracts.availability)."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from appointments_service.service_layer.ports import ConnectorUnavailable
from visitor_common.contracts.availability import AvailabilityAnswer, AvailabilityQuery, RoomDirectory
from visitor_common.events import Provider


class HttpCalendarGateway:
    """``CalendarGateway`` over HTTP; the employee's bearer token is forwarded as is."""

    def __init__(
        self,
        base_urls: dict[Provider, str],
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_urls = {p: u.rstrip("/") for p, u in base_urls.items()}
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _url(self, provider: Provider, path: str) -> str:
        base = self._base_urls.get(provider)
        if not base:
            raise ConnectorUnavailable(f"no connector URL configured for {provider.value}")
        return f"{base}{path}"

    async def rooms(self, provider: Provider, bearer: str) -> RoomDirectory:
        try:
            response = await self._client.get(
                self._url(provider, "/v1/rooms"), headers={"Authorization": f"Bearer {bearer}"}
            )
            response.raise_for_status()
            return RoomDirectory.model_validate(response.json())
        except (httpx.HTTPError, ValidationError, ValueError) as error:
            raise ConnectorUnavailable(f"{provider.value} rooms: {type(error).__name__}") from error

    async def availability(
        self, provider: Provider, bearer: str, query: AvailabilityQuery
    ) -> AvailabilityAnswer:
        try:
            response = await self._client.post(
                self._url(provider, "/v1/availability"),
                content=query.model_dump_json(),
                headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
            )
            response.raise_for_status()
            return AvailabilityAnswer.model_validate(response.json())
        except (httpx.HTTPError, ValidationError, ValueError) as error:
            raise ConnectorUnavailable(f"{provider.value} availability: {type(error).__name__}") from error
