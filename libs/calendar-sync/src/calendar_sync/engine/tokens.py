"""The engine's view of the auth service: the shared internal-API client
(``visitor_common.contracts.auth_internal_client``) with its failures as the engine's token errors.

A 409 ``reauth_required`` raises ``ReauthRequired`` (the host must relink: report ``failed``,
never retry); ``connection_inactive`` or an unknown connection raise ``ConnectionInactive``;
transport errors, 5xx and 429 raise ``AuthServiceUnavailable`` (retriable); a refused credential
or request raises ``TokenError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from calendar_sync.core.errors import (
    AuthServiceUnavailable,
    ConnectionInactive,
    ReauthRequired,
    TokenError,
)
from visitor_common import metrics
from visitor_common.contracts.auth_internal_client import (
    AuthInternalClient,
    AuthInternalError,
    AuthUnavailable,
    ConnectionNotUsable,
)
from visitor_common.contracts.connections import AccessTokenGrant, ConnectionInfo


class AuthTokenClient:
    """``TokenSource`` and connection lookups for the engine and the connectors' routers, over
    the shared client (which it closes)."""

    def __init__(self, auth: AuthInternalClient) -> None:
        self._auth = auth

    async def aclose(self) -> None:
        await self._auth.aclose()

    async def connection(self, connection_id: str) -> ConnectionInfo:
        with _as_token_errors():
            info = await self._auth.connection(connection_id)
        if info is None:
            raise ConnectionInactive("The calendar connection is no longer active.")
        return info

    async def connection_for_employee(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None:
        """The employee's active connection, or None when there is none."""
        with _as_token_errors():
            return await self._auth.active_connection(tenant_id, employee_id)

    async def access_token(self, connection_id: str, *, force_refresh: bool = False) -> AccessTokenGrant:
        """A usable access token; concurrent callers for one connection share one request."""
        with _counted(force_refresh), _as_token_errors():
            return await self._auth.access_token(connection_id, force_refresh=force_refresh)

    def forget(self, connection_id: str) -> None:
        self._auth.forget(connection_id)


@contextmanager
def _counted(force_refresh: bool) -> Iterator[None]:
    """A forced refresh (after a provider 401) is a token refresh; count it and its failures."""
    if not force_refresh:
        yield
        return
    try:
        yield
    except Exception:
        metrics.token_refresh("connector", "failed")
        raise
    metrics.token_refresh("connector", "refreshed")


@contextmanager
def _as_token_errors() -> Iterator[None]:
    try:
        yield
    except ConnectionNotUsable as error:
        if error.reauth_required:
            raise ReauthRequired(error.message or "The calendar connection must be linked again.") from error
        raise ConnectionInactive(error.message or "The calendar connection is no longer active.") from error
    except AuthUnavailable as error:
        raise AuthServiceUnavailable(str(error)) from error
    except AuthInternalError as error:
        raise TokenError(str(error)) from error
