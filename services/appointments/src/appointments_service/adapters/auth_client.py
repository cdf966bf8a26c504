"""``ConnectionDirectory`` over the shared client of the auth service's internal API; every
failure of it is the port's ``AuthUnavailable`` (the use cases then answer 503)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from appointments_service.service_layer.ports import AuthUnavailable
from visitor_common.contracts.auth_internal_client import AuthInternalClient, AuthInternalError
from visitor_common.contracts.connections import ConnectionInfo


class AuthConnectionDirectory:
    def __init__(self, client: AuthInternalClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def reachable(self) -> bool:
        return await self._client.reachable()

    async def active_connection(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None:
        with _unavailable_on_failure():
            return await self._client.active_connection(tenant_id, employee_id)

    async def connection(self, connection_id: str) -> ConnectionInfo | None:
        with _unavailable_on_failure():
            return await self._client.connection(connection_id)


@contextmanager
def _unavailable_on_failure() -> Iterator[None]:
    try:
        yield
    except AuthInternalError as error:
        raise AuthUnavailable(f"auth service unavailable: {error}") from error
