"""A typed Microsoft Graph v1.0 client over httpx.

Every request:
- runs inside the mailbox's slot of the shared :class:`MailboxLimiter` (≤ 4 in flight);
- on 401 asks its :class:`GraphAuth` for a fresh token once and repeats;
- on 429 / 503 / 5xx / network errors waits ``Retry-After`` (or an exponential back-off) and
  repeats, up to ``RetryConfig.max_attempts``; a ``Retry-After`` beyond ``max_retry_after`` is
  not slept in-line but raised at once, so the caller can park the work (retry topic);
- sends ``Prefer: outlook.timezone="UTC"`` so every time it reads back is UTC.

Paging links (``@odata.nextLink`` / ``@odata.deltaLink``) are followed only when they point at
the configured Graph host: a bearer token is never sent anywhere else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from calendar_outlook.adapters.graph.errors import (
    GraphApiError,
    GraphErrorBody,
    GraphErrorKind,
    error_from_response,
    network_error,
)
from calendar_outlook.adapters.graph.limiter import MailboxLimiter
from calendar_outlook.adapters.graph.models import (
    DateTimeTimeZone,
    DeltaResult,
    GraphEvent,
    GraphRoom,
    GraphRoomList,
    GraphSubscription,
    ScheduleInformation,
)

log = logging.getLogger(__name__)

API_VERSION = "v1.0"
MAX_SCHEDULES_PER_CALL = 20
MAX_SCHEDULE_RANGE = dt.timedelta(days=62)
MAX_PAGES = 200

Sleep = Callable[[float], Awaitable[None]]


class GraphAuth(Protocol):
    """Whose mailbox a call works on, and how to get (or renew) its access token."""

    @property
    def mailbox(self) -> str: ...

    async def access_token(self, *, refresh: bool = False) -> str: ...


@dataclass(frozen=True)
class StaticAuth:
    """A fixed token (tests, tools)."""

    mailbox: str
    token: str

    async def access_token(self, *, refresh: bool = False) -> str:
        return self.token


@dataclass(frozen=True)
class RetryConfig:
    max_attempts: int = 6
    max_retry_after: float = 30.0
    backoff_base: float = 0.2
    backoff_max: float = 8.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential back-off for errors that name no ``Retry-After``."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return random.uniform(self.backoff_base / 2, ceiling)  # noqa: S311 - jitter, not security


class GraphClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str = "https://graph.microsoft.com",
        limiter: MailboxLimiter | None = None,
        retry: RetryConfig | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = http
        self._root = f"{base_url.rstrip('/')}/{API_VERSION}"
        self._limiter = limiter or MailboxLimiter()
        self._retry = retry or RetryConfig()
        self._sleep = sleep
        self.retries = 0  # observed by tests and metrics

    @property
    def limiter(self) -> MailboxLimiter:
        return self._limiter

    # --- transport ---------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("https://", "http://")):
            if not path_or_url.startswith(self._root + "/"):
                raise ValueError("refusing to follow a Graph link to another host")
            return path_or_url
        return f"{self._root}/{path_or_url.lstrip('/')}"

    async def request(
        self,
        auth: GraphAuth,
        method: str,
        path_or_url: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one logical request with the retry rules above; raise :class:`GraphApiError`."""
        url = self.url(path_or_url)
        token = await auth.access_token()
        refreshed = False
        attempt = 0
        while True:
            try:
                response = await self._send(auth.mailbox, method, url, token, json, params, headers)
            except httpx.HTTPError as error:
                failure = network_error(error, method, url)
            else:
                if response.status_code < 400:
                    return response
                failure = error_from_response(response)
            if failure.kind is GraphErrorKind.UNAUTHORIZED and not refreshed:
                refreshed = True
                fresh = await auth.access_token(refresh=True)
                if fresh != token:  # a static token cannot be renewed here: report the 401
                    token = fresh
                    continue
                raise failure
            attempt += 1
            await self._wait_or_raise(failure, attempt)

    async def _wait_or_raise(self, failure: GraphApiError, attempt: int) -> None:
        if not failure.retriable or attempt >= self._retry.max_attempts:
            raise failure
        delay = failure.retry_after if failure.retry_after is not None else self._retry.backoff(attempt)
        if delay > self._retry.max_retry_after:
            raise failure
        self.retries += 1
        log.info(
            "graph call throttled or failed; retrying",
            extra={"status": failure.status, "graph_code": failure.code, "delay": delay, "attempt": attempt},
        )
        await self._sleep(delay)

    async def _send(
        self,
        mailbox: str,
        method: str,
        url: str,
        token: str,
        json: Any,
        params: dict[str, str] | None,
        headers: dict[str, str] | None,
    ) -> httpx.Response:
        merged = {"Authorization": f"Bearer {token}", "Prefer": 'outlook.timezone="UTC"', **(headers or {})}
        async with self._limiter.slot(mailbox):
            return await self._http.request(method, url, json=json, params=params, headers=merged)

    async def _json(self, auth: GraphAuth, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.request(auth, method, path, **kwargs)
        body: dict[str, Any] = response.json() if response.content else {}
        return body

    async def _all_pages(self, auth: GraphAuth, path: str, params: dict[str, str] | None = None) -> list[Any]:
        items: list[Any] = []
        link: str | None = path
        first = True
        for _ in range(MAX_PAGES):
            if link is None:
                return items
            body = await self._json(auth, "GET", link, params=params if first else None)
            first = False
            items.extend(body.get("value", []))
            link = body.get("@odata.nextLink")
        raise GraphApiError(
            0, GraphErrorKind.INVALID, _body("TooManyPages", f"more than {MAX_PAGES} pages at {path}")
        )

    # --- events ------------------------------------------------------------------------------

    @staticmethod
    def _expand(property_ids: list[str]) -> dict[str, str]:
        if not property_ids:
            return {}
        clauses = " or ".join(f"id eq '{p}'" for p in property_ids)
        return {"$expand": f"singleValueExtendedProperties($filter={clauses})"}

    async def create_event(self, auth: GraphAuth, body: dict[str, Any]) -> GraphEvent:
        """``POST /me/events``; a body with a known ``transactionId`` returns the existing event."""
        return GraphEvent.model_validate(await self._json(auth, "POST", "me/events", json=body))

    async def get_event(
        self, auth: GraphAuth, event_id: str, property_ids: list[str] | None = None
    ) -> GraphEvent | None:
        try:
            body = await self._json(
                auth, "GET", f"me/events/{quote(event_id, safe='')}", params=self._expand(property_ids or [])
            )
        except GraphApiError as error:
            if error.kind is GraphErrorKind.NOT_FOUND:
                return None
            raise
        return GraphEvent.model_validate(body)

    async def update_event(self, auth: GraphAuth, event_id: str, body: dict[str, Any]) -> GraphEvent:
        payload = await self._json(auth, "PATCH", f"me/events/{quote(event_id, safe='')}", json=body)
        return GraphEvent.model_validate(payload)

    async def delete_event(self, auth: GraphAuth, event_id: str) -> bool:
        """``DELETE /me/events/{id}``; ``False`` when it was already gone."""
        try:
            await self.request(auth, "DELETE", f"me/events/{quote(event_id, safe='')}")
        except GraphApiError as error:
            if error.kind is GraphErrorKind.NOT_FOUND:
                return False
            raise
        return True

    async def find_events_by_property(
        self, auth: GraphAuth, property_id: str, value: str | None = None, *, expand: list[str] | None = None
    ) -> list[GraphEvent]:
        """Events carrying a single-value extended property (optionally with one value)."""
        condition = f"ep/id eq '{property_id}'"
        if value is not None:
            condition += f" and ep/value eq '{_odata_literal(value)}'"
        params = {
            "$filter": f"singleValueExtendedProperties/any(ep: {condition})",
            **self._expand(expand or [property_id]),
        }
        items = await self._all_pages(auth, "me/events", params)
        return [GraphEvent.model_validate(i) for i in items]

    # --- delta -------------------------------------------------------------------------------

    async def calendar_delta(
        self,
        auth: GraphAuth,
        *,
        delta_link: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> DeltaResult:
        """One delta round: from ``delta_link``, or a fresh window (``start``/``end``).

        Raises ``GraphApiError`` with kind ``RESYNC_REQUIRED`` when the link is no longer valid.
        """
        if delta_link is None:
            if start is None or end is None:
                raise ValueError("a first delta round needs start and end")
            link: str = "me/calendarView/delta"
            params: dict[str, str] | None = {"startDateTime": _iso(start), "endDateTime": _iso(end)}
        else:
            link, params = delta_link, None
        changed: list[GraphEvent] = []
        removed: list[str] = []
        for _ in range(MAX_PAGES):
            body = await self._json(auth, "GET", link, params=params)
            params = None
            for item in body.get("value", []):
                if "@removed" in item:
                    removed.append(str(item.get("id")))
                else:
                    changed.append(GraphEvent.model_validate(item))
            if "@odata.deltaLink" in body:
                return DeltaResult(changed=changed, removed_ids=removed, delta_link=body["@odata.deltaLink"])
            next_link = body.get("@odata.nextLink")
            if not next_link:
                break
            link = next_link
        no_link = _body("NoDeltaLink", "delta ended without a deltaLink")
        raise GraphApiError(0, GraphErrorKind.INVALID, no_link)

    # --- availability and places ---------------------------------------------------------------

    async def get_schedule(
        self,
        auth: GraphAuth,
        schedules: list[str],
        start: dt.datetime,
        end: dt.datetime,
        interval_minutes: int = 30,
    ) -> list[ScheduleInformation]:
        """``POST /me/calendar/getSchedule`` in chunks of 20 addresses; the range must be < 62 days."""
        if end - start >= MAX_SCHEDULE_RANGE:
            raise ValueError("getSchedule needs a range shorter than 62 days")
        result: list[ScheduleInformation] = []
        for offset in range(0, len(schedules), MAX_SCHEDULES_PER_CALL):
            body = {
                "schedules": schedules[offset : offset + MAX_SCHEDULES_PER_CALL],
                "startTime": DateTimeTimeZone.utc(start).model_dump(by_alias=True),
                "endTime": DateTimeTimeZone.utc(end).model_dump(by_alias=True),
                "availabilityViewInterval": interval_minutes,
            }
            payload = await self._json(auth, "POST", "me/calendar/getSchedule", json=body)
            result.extend(ScheduleInformation.model_validate(v) for v in payload.get("value", []))
        return result

    async def list_room_lists(self, auth: GraphAuth) -> list[GraphRoomList]:
        items = await self._all_pages(auth, "places/microsoft.graph.roomlist", {"$top": "100"})
        return [GraphRoomList.model_validate(i) for i in items]

    async def list_all_rooms(self, auth: GraphAuth) -> list[GraphRoom]:
        items = await self._all_pages(auth, "places/microsoft.graph.room", {"$top": "100"})
        return [GraphRoom.model_validate(i) for i in items]

    async def list_rooms(self, auth: GraphAuth, room_list_email: str) -> list[GraphRoom]:
        path = f"places/{quote(room_list_email, safe='@')}/microsoft.graph.roomlist/rooms"
        items = await self._all_pages(auth, path, {"$top": "100"})
        return [GraphRoom.model_validate(i) for i in items]

    # --- subscriptions -------------------------------------------------------------------------

    async def create_subscription(
        self,
        auth: GraphAuth,
        *,
        notification_url: str,
        client_state: str,
        expiration: dt.datetime,
        resource: str = "me/events",
        lifecycle_url: str | None = None,
    ) -> GraphSubscription:
        body: dict[str, Any] = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": resource,
            "expirationDateTime": _iso(expiration),
            "clientState": client_state,
        }
        if lifecycle_url:
            body["lifecycleNotificationUrl"] = lifecycle_url
        return GraphSubscription.model_validate(await self._json(auth, "POST", "subscriptions", json=body))

    async def renew_subscription(
        self, auth: GraphAuth, subscription_id: str, expiration: dt.datetime
    ) -> GraphSubscription:
        body = {"expirationDateTime": _iso(expiration)}
        path = f"subscriptions/{quote(subscription_id, safe='')}"
        return GraphSubscription.model_validate(await self._json(auth, "PATCH", path, json=body))

    async def delete_subscription(self, auth: GraphAuth, subscription_id: str) -> bool:
        try:
            await self.request(auth, "DELETE", f"subscriptions/{quote(subscription_id, safe='')}")
        except GraphApiError as error:
            if error.kind is GraphErrorKind.NOT_FOUND:
                return False
            raise
        return True


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _odata_literal(value: str) -> str:
    return value.replace("'", "''")


def _body(code: str, message: str) -> GraphErrorBody:
    return GraphErrorBody(code=code, message=message)
