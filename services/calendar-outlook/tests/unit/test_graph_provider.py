"""Graph ↔ engine translation: event bodies, normalised events, error mapping."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from calendar_outlook.adapters.graph.client import GraphClient, RetryConfig
from calendar_outlook.adapters.graph.errors import GraphApiError, GraphErrorBody, GraphErrorKind
from calendar_outlook.adapters.graph.limiter import MailboxLimiter
from calendar_outlook.adapters.graph.models import GraphEvent
from calendar_outlook.adapters.graph_provider import (
    GraphCalendarProvider,
    to_provider_error,
    to_provider_event,
)
from calendar_outlook.domain import graph_event
from calendar_sync.core.errors import (
    AccessTokenRejected,
    EventNotFound,
    PermissionMissing,
    ProviderRejected,
    SyncCursorInvalid,
    TransientProviderError,
)
from calendar_sync.core.model import (
    CalendarEntry,
    EntryKind,
    EventMeta,
    ProviderAccess,
    RoomResponse,
)
from calendar_sync.core.provider import CalendarProvider, SupportsPush
from visitor_common.events.appointments import RoomRef

START = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=9)))
META = EventMeta(appointment_id="ap-1", tenant_id="t1", appointment_version=3, entry_key="slot:a")
ACCESS = ProviderAccess("c1", "host@contoso.example", "tok", "t1")


def entry(room: bool = True, tentative: bool = True) -> CalendarEntry:
    return CalendarEntry(
        key="slot:a",
        kind=EntryKind.HOLD if tentative else EntryKind.CONFIRMED,
        start=START,
        end=START + dt.timedelta(hours=1),
        room=RoomRef(email="room1@contoso.example", name="Room 1") if room else None,
        title="Visit",
        description="Guest: Gus <gus@x.com>\n\nBring ID",
        tentative=tentative,
    )


def test_event_body_has_room_as_resource_and_location_and_our_properties() -> None:
    body = graph_event.create_body(entry(), META, "tx-1")
    assert body["transactionId"] == "tx-1"
    assert body["start"] == {"dateTime": "2026-12-01T01:00:00", "timeZone": "UTC"}
    assert body["showAs"] == "tentative"
    assert body["attendees"] == [
        {"emailAddress": {"address": "room1@contoso.example", "name": "Room 1"}, "type": "resource"}
    ]
    assert body["location"]["locationEmailAddress"] == "room1@contoso.example"
    props = {p["id"]: p["value"] for p in body["singleValueExtendedProperties"]}
    assert props[graph_event.APPOINTMENT_PROPERTY] == "ap-1"
    assert graph_event.decode_meta(props[graph_event.META_PROPERTY]) == META


def test_a_confirmed_entry_without_room_is_busy_and_clears_attendees() -> None:
    body = graph_event.event_body(entry(room=False, tentative=False), META)
    assert body["showAs"] == "busy" and body["attendees"] == [] and body["location"] == {"displayName": ""}
    assert "transactionId" not in body


def test_meta_decoding_tolerates_foreign_values() -> None:
    assert graph_event.decode_meta(None) is None
    assert graph_event.decode_meta("not json") is None
    assert graph_event.decode_meta(json.dumps({"x": 1})) is None


def test_html_bodies_are_compared_as_text() -> None:
    html = (
        "<html><head><style>p{}</style></head>"
        "<body><p>Guest: Gus &lt;gus@x.com&gt;</p><br>Bring ID</body></html>"
    )
    assert graph_event.body_text("html", html) == "Guest: Gus <gus@x.com>\n\nBring ID"
    assert graph_event.body_text("text", " plain \n") == "plain"


def test_to_provider_event_normalises_times_rooms_and_meta() -> None:
    raw: dict[str, Any] = {
        "id": "AAMk1",
        "changeKey": "ck1",
        "subject": "Visit",
        "body": {"contentType": "text", "content": "hello"},
        "start": {"dateTime": "2026-12-01T01:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-01T02:00:00.0000000", "timeZone": "UTC"},
        "showAs": "tentative",
        "attendees": [
            {"emailAddress": {"address": "gus@x.com"}, "type": "required", "status": {"response": "none"}},
            {
                "emailAddress": {"address": "Room1@contoso.example"},
                "type": "resource",
                "status": {"response": "declined"},
            },
        ],
        "singleValueExtendedProperties": [
            {"id": graph_event.META_PROPERTY, "value": graph_event.encode_meta(META)}
        ],
    }
    event = to_provider_event(GraphEvent.model_validate(raw))
    assert event.start == START and event.end == START + dt.timedelta(hours=1)
    assert event.room_email == "room1@contoso.example" and event.room_response is RoomResponse.DECLINED
    assert event.tentative is True and event.etag == "ck1" and event.meta == META and not event.cancelled
    removed = to_provider_event(GraphEvent.model_validate({"id": "x", "@removed": {"reason": "deleted"}}))
    assert removed.cancelled


def _error(
    status: int, kind: GraphErrorKind, code: str = "X", retry_after: float | None = None
) -> GraphApiError:
    return GraphApiError(status, kind, GraphErrorBody(code, "msg"), retry_after=retry_after)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_error(429, GraphErrorKind.THROTTLED, "TooManyRequests", 2.0), TransientProviderError),
        (_error(503, GraphErrorKind.UNAVAILABLE), TransientProviderError),
        (_error(401, GraphErrorKind.UNAUTHORIZED), AccessTokenRejected),
        (_error(404, GraphErrorKind.NOT_FOUND), EventNotFound),
        (_error(410, GraphErrorKind.RESYNC_REQUIRED), SyncCursorInvalid),
        (_error(403, GraphErrorKind.FORBIDDEN), PermissionMissing),
        (_error(400, GraphErrorKind.INVALID), ProviderRejected),
    ],
)
def test_error_mapping(error: GraphApiError, expected: type[Exception]) -> None:
    mapped = to_provider_error(error)
    assert isinstance(mapped, expected)
    if isinstance(mapped, TransientProviderError) and error.status == 429:
        assert mapped.retry_after == 2.0 and mapped.rate_limited


def test_403_on_places_points_at_admin_consent() -> None:
    mapped = to_provider_error(_error(403, GraphErrorKind.FORBIDDEN, "ErrorAccessDenied"), places=True)
    assert isinstance(mapped, PermissionMissing)
    assert mapped.code == "admin_consent_required" and "administrator" in mapped.message
    calendar = to_provider_error(_error(403, GraphErrorKind.FORBIDDEN))
    assert isinstance(calendar, PermissionMissing) and calendar.code == "calendar_permission_missing"


def _provider(handler: Any) -> GraphCalendarProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = GraphClient(http, base_url="https://graph.test", limiter=MailboxLimiter(4), retry=RetryConfig(1))
    return GraphCalendarProvider(client)


def test_it_is_an_engine_provider_with_push() -> None:
    provider = _provider(lambda r: httpx.Response(200))
    assert isinstance(provider, CalendarProvider) and isinstance(provider, SupportsPush)
    assert provider.max_calendars_per_free_busy == 20
    assert (
        provider.client_id_for(META, 1) == provider.client_id_for(META, 1) != provider.client_id_for(META, 2)
    )


async def test_create_sends_transaction_id_and_a_429_is_transient_with_retry_after() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        if len(sent) == 1:
            body = {"error": {"code": "TooManyRequests", "message": "slow down"}}
            return httpx.Response(429, json=body, headers={"Retry-After": "4"})
        return httpx.Response(201, json={"id": "AAMk1", "showAs": "tentative"})

    provider = _provider(handler)
    with pytest.raises(TransientProviderError) as caught:
        await provider.create_event(ACCESS, "tx-9", entry(), META)
    assert caught.value.retry_after == 4.0 and caught.value.rate_limited
    created = await provider.create_event(ACCESS, "tx-9", entry(), META)
    assert sent[0]["transactionId"] == sent[1]["transactionId"] == "tx-9"
    assert created.event_id == "AAMk1" and created.meta == META  # stamped from what we sent


async def test_free_busy_maps_schedule_items_and_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "value": [
                    {
                        "scheduleId": "Host@contoso.example",
                        "scheduleItems": [
                            {
                                "status": "busy",
                                "start": {"dateTime": "2026-12-01T01:00:00"},
                                "end": {"dateTime": "2026-12-01T02:00:00"},
                            },
                            {
                                "status": "free",
                                "start": {"dateTime": "2026-12-01T03:00:00"},
                                "end": {"dateTime": "2026-12-01T04:00:00"},
                            },
                        ],
                    },
                    {
                        "scheduleId": "x@contoso.example",
                        "error": {"responseCode": "ErrorMailRecipientNotFound"},
                    },
                ]
            },
        )

    busy = await _provider(handler).free_busy(
        ACCESS, ["host@contoso.example", "x@contoso.example"], START, START + dt.timedelta(hours=5)
    )
    assert [(b.start, b.end) for b in busy["host@contoso.example"].busy] == [
        (START, START + dt.timedelta(hours=1))
    ]
    assert busy["x@contoso.example"].error == "ErrorMailRecipientNotFound"
