"""A plain Microsoft Graph v1.0 transport over httpx.

Each request holds one of the mailbox's slots in the shared :class:`KeyedLimiter` (at most 4
in flight) while it is on the wire, and sends ``Prefer: outlook.timezone="UTC"`` so every time
it reads back is UTC. A failed answer becomes the engine's error through the one
classification, :func:`calendar_sync.core.classify_http`, with Graph's error code as the reason.
It neither retries nor refreshes a token: the engine does both.

Paging links (``@odata.nextLink`` / ``@odata.deltaLink``) are followed only when they point at
the configured Graph root: a bearer token is never sent anywhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from calendar_sync.core import (
    PermissionMissing,
    ProviderAccess,
    ProviderError,
    ProviderRejected,
    TransientProviderError,
    classify_http,
    parse_retry_after,
)
from calendar_sync.engine.locks import KeyedLimiter

API_VERSION = "v1.0"
Params = dict[str, str] | None
MAX_PAGES = 200
ADMIN_CONSENT_MESSAGE = (
    "Microsoft 365 room lists need the Place.Read.All permission, which only a Microsoft 365 "
    "administrator can grant (管理者の承認が必要). Ask your administrator to open the admin-consent "
    "link offered when linking Outlook and grant this app's permissions, then try again."
)
CALENDAR_PERMISSION_MESSAGE = (
    "The linked Microsoft 365 account does not allow this app to use its calendar. Link Outlook "
    "again and accept (承諾) the requested permissions."
)


def error_for(response: httpx.Response) -> ProviderError:
    """A failed Graph answer (``{"error": {"code", "message"}}``) as the engine's error.

    A plain 403 is a missing permission: admin consent for the Places API (room lists need
    ``Place.Read.All``), the calendar grant anywhere else.
    """
    try:
        body = response.json()
    except ValueError:
        body = None  # proxies answer HTML
    error = body.get("error") if isinstance(body, dict) else None
    code, message = (error.get("code"), error.get("message")) if isinstance(error, dict) else (None, None)
    failure = classify_http(
        response.status_code,
        [str(code)] if code else [],
        message=str(message or f"Graph answered {response.status_code}"),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )
    if isinstance(failure, ProviderRejected) and failure.status == 403:
        if "/places/" in response.request.url.path:
            return PermissionMissing(
                ADMIN_CONSENT_MESSAGE, code="admin_consent_required", reason=failure.reason
            )
        return PermissionMissing(
            CALENDAR_PERMISSION_MESSAGE, code="calendar_permission_missing", reason=failure.reason
        )
    return failure


class GraphClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str = "https://graph.microsoft.com",
        limiter: KeyedLimiter | None = None,
    ) -> None:
        self._http = http
        self._root = f"{base_url.rstrip('/')}/{API_VERSION}"
        self.limiter = limiter or KeyedLimiter()

    def url(self, path_or_link: str) -> str:
        if path_or_link.startswith(("https://", "http://")):
            if not path_or_link.startswith(self._root + "/"):
                raise ValueError("refusing to follow a Graph link to another host")
            return path_or_link
        return f"{self._root}/{path_or_link.lstrip('/')}"

    async def request(
        self, access: ProviderAccess, method: str, path: str, *, params: Params = None, json: Any = None
    ) -> dict[str, Any]:
        """One Graph call as the host: its JSON answer (``{}`` when empty), or the engine's error."""
        url = self.url(path)
        headers = {"Authorization": f"Bearer {access.access_token}", "Prefer": 'outlook.timezone="UTC"'}
        try:
            async with self.limiter.slot(access.account_email):
                response = await self._http.request(method, url, params=params, json=json, headers=headers)
        except httpx.TransportError as error:
            raise TransientProviderError(f"Graph unreachable: {type(error).__name__}") from error
        if response.is_error:
            raise error_for(response)
        answer: dict[str, Any] = response.json() if response.content else {}
        return answer

    async def pages(
        self, access: ProviderAccess, path: str, params: Params = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a collection or a delta round, following ``@odata.nextLink``."""
        link = path
        for _ in range(MAX_PAGES):
            page = await self.request(access, "GET", link, params=params)
            yield page
            if not page.get("@odata.nextLink"):
                return
            link, params = str(page["@odata.nextLink"]), None
        raise ProviderRejected(f"more than {MAX_PAGES} pages at {path}")
