"""``GoogleCalendarProvider`` against a scripted Google (httpx MockTransport): requests sent and
how each Google error maps to the engine's taxonomy."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from calendar_google.adapters.google_api import GoogleCalendarProvider
from calendar_sync.core import (
    AccessTokenRejected,
    CalendarEntry,
    EntryKind,
    EventAlreadyExists,
    EventMeta,
    EventNotFound,
    PermissionMissing,
    ProviderAccess,
    ProviderRejected,
    SyncCursorInvalid,
    TransientProviderError,
    is_base32hex_id,
)

ACCESS = ProviderAccess(connection_id="c1", account_email="host@example.com", access_token="ya29.x")
META = EventMeta(appointment_id="a1", tenant_id="t1", appointment_version=1, entry_key="slot:s1")
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
ENTRY = CalendarEntry(
    key="slot:s1", kind=EntryKind.HOLD, start=START, end=START + timedelta(hours=1), title="T", tentative=True
)

Handler = Callable[[httpx.Request], httpx.Response]


def google_error(status: int, reason: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": status, "message": reason, "errors": [{"domain": "global", "reason": reason}]}}
    return httpx.Response(status, json=body, headers=headers)


def provider(handler: Handler) -> tuple[GoogleCalendarProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return GoogleCalendarProvider(
        http, calendar_base_url="https://cal", directory_base_url="https://dir"
    ), seen


async def test_insert_sends_the_client_id_and_bearer() -> None:
    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**json.loads(request.content), "etag": '"1"'})

    google, seen = provider(ok)
    client_id = google.client_id_for(META, 1)
    assert is_base32hex_id(client_id)
    event = await google.create_event(ACCESS, client_id, ENTRY, META)
    assert event.event_id == client_id and event.meta == META
    (request,) = seen
    assert request.url.path == "/calendar/v3/calendars/primary/events"
    assert request.url.params["sendUpdates"] == "none"
    assert request.headers["authorization"] == "Bearer ya29.x"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (google_error(429, "rateLimitExceeded", {"Retry-After": "3"}), TransientProviderError),
        (google_error(403, "userRateLimitExceeded"), TransientProviderError),
        (google_error(403, "rateLimitExceeded"), TransientProviderError),
        (google_error(500, "backendError"), TransientProviderError),
        (google_error(503, "backendError"), TransientProviderError),
        (google_error(401, "authError"), AccessTokenRejected),
        (google_error(409, "duplicate"), EventAlreadyExists),
        (google_error(400, "badRequest"), ProviderRejected),
        (google_error(403, "quotaExceeded"), ProviderRejected),
    ],
)
async def test_insert_errors(response: httpx.Response, expected: type) -> None:
    google, _ = provider(lambda _r: response)
    with pytest.raises(expected) as caught:
        await google.create_event(ACCESS, "abcde", ENTRY, META)
    if response.headers.get("Retry-After"):
        assert getattr(caught.value, "retry_after", None) == 3.0


async def test_network_errors_are_transient() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timeout")

    google, _ = provider(down)
    with pytest.raises(TransientProviderError):
        await google.delete_event(ACCESS, "abcde")


async def test_get_missing_is_none_and_delete_of_deleted_is_not_found() -> None:
    google, _ = provider(
        lambda r: google_error(404, "notFound") if r.method == "GET" else google_error(410, "deleted")
    )
    assert await google.get_event(ACCESS, "abcde") is None
    with pytest.raises(EventNotFound):
        await google.delete_event(ACCESS, "abcde")


async def test_incremental_sync_follows_pages_and_maps_410() -> None:
    pages = {
        None: {"items": [{"id": "e1", "status": "cancelled"}], "nextPageToken": "p2"},
        "p2": {"items": [{"id": "e2", "status": "confirmed", "summary": "x"}], "nextSyncToken": "s2"},
    }

    def listing(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("syncToken") == "stale":
            return google_error(410, "fullSyncRequired")
        return httpx.Response(200, json=pages[request.url.params.get("pageToken")])

    google, seen = provider(listing)
    page = await google.list_changes(ACCESS, "s1")
    assert [e.event_id for e in page.events] == ["e1", "e2"] and page.next_cursor == "s2" and not page.full
    assert all(r.url.params["syncToken"] == "s1" for r in seen)
    full = await google.list_changes(ACCESS, None)
    assert full.full and seen[-1].url.params["showDeleted"] == "true"
    with pytest.raises(SyncCursorInvalid):
        await google.list_changes(ACCESS, "stale")


async def test_directory_403_is_permission_missing_with_an_explanation() -> None:
    google, _ = provider(lambda _r: google_error(403, "forbidden"))
    with pytest.raises(PermissionMissing) as caught:
        await google.list_room_groups(ACCESS)
    assert caught.value.code == "directory_permission_missing"
    assert "administrator" in caught.value.message


async def test_directory_rate_limit_stays_transient() -> None:
    google, _ = provider(lambda _r: google_error(403, "userRateLimitExceeded"))
    with pytest.raises(TransientProviderError):
        await google.list_rooms(ACCESS, None)


async def test_directory_pages_and_filters() -> None:
    def directory(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/admin/directory/v1/customer/my_customer/resources/calendars"
        if request.url.params.get("pageToken") == "2":
            return httpx.Response(
                200,
                json={"items": [{"resourceEmail": "b@r.com", "resourceName": "B", "buildingId": "annex"}]},
            )
        items = [{"resourceEmail": "a@r.com", "resourceName": "A", "buildingId": "hq"}]
        return httpx.Response(200, json={"items": items, "nextPageToken": "2"})

    google, _ = provider(directory)
    assert [r.email for r in await google.list_rooms(ACCESS, None)] == ["a@r.com", "b@r.com"]
    assert [r.email for r in await google.list_rooms(ACCESS, "annex")] == ["b@r.com"]


async def test_watch_and_stop() -> None:
    def channels(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/watch"):
            assert body["type"] == "web_hook" and body["token"] == "secret-token"
            return httpx.Response(
                200, json={"id": body["id"], "resourceId": "r1", "expiration": "1800000000000"}
            )
        assert body == {"id": "ch1", "resourceId": "r1"}
        return httpx.Response(204)

    google, _ = provider(channels)
    channel = await google.open_channel(
        ACCESS,
        channel_id="ch1",
        token="secret-token",
        address="https://c/notifications/google",
        ttl_seconds=60,
    )
    assert channel.resource_id == "r1" and channel.token == "secret-token"
    await google.stop_channel(ACCESS, channel)


async def test_free_busy_request() -> None:
    def fb(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["items"] == [{"id": "host@example.com"}, {"id": "room@example.com"}]
        assert body["timeMin"] == "2026-12-01T01:00:00Z"
        return httpx.Response(200, json={"calendars": {"host@example.com": {"busy": []}}})

    google, _ = provider(fb)
    answer = await google.free_busy(
        ACCESS, ["host@example.com", "room@example.com"], START, START + timedelta(hours=1)
    )
    assert answer["host@example.com"].busy == []
