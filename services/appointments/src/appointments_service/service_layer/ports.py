"""The interfaces the use cases need from the outside world (adapters implement them)."""

from __future__ import annotations

from typing import Protocol

from visitor_common.contracts.availability import AvailabilityAnswer, AvailabilityQuery, RoomDirectory
from visitor_common.contracts.connections import ConnectionInfo
from visitor_common.events import Provider


class AuthUnavailable(Exception):
    """The auth service's internal API could not be asked (network, 5xx, bad credential)."""


class ConnectorUnavailable(Exception):
    """A calendar connector's rooms / availability API could not be asked."""


class ConnectionDirectory(Protocol):
    """The auth service's view of calendar connections."""

    async def active_connection(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None:
        """The employee's active connection; ``None`` when they have not linked a calendar."""

    async def connection(self, connection_id: str) -> ConnectionInfo | None:
        """One connection by id, whatever its status; ``None`` when it does not exist."""


class CalendarGateway(Protocol):
    """The connectors' rooms and availability API, called with the employee's bearer token."""

    async def rooms(self, provider: Provider, bearer: str) -> RoomDirectory: ...

    async def availability(
        self, provider: Provider, bearer: str, query: AvailabilityQuery
    ) -> AvailabilityAnswer: ...
