"""Graph ↔ engine translation: event bodies, normalised events, and each endpoint's use."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from calendar_outlook.adapters.graph.client import GraphClient
from calendar_outlook.adapters.graph_provider import GraphCalendarProvider
from calendar_outlook.domain import graph_event
from calendar_sync.core.errors import EventNotFound, SyncCursorInvalid, TransientProviderError
from calendar_sync.core.model import (
    CalendarEntry,
    EntryKind,
    EventMeta,
    ProviderAccess,
    RoomResponse,
)
from calendar_sync.core.provider import CalendarProvider, SupportsPush
from calendar_sync.engine.locks import KeyedLimiter
from visitor_common.events.appointments import RoomRef

START = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=9)))
META = EventMeta(appointment_id="ap-1", tenant_id="t1", appointment_version=3, entry_key="slot:a")
ACCESS = ProviderAccess("c1", "host@contoso.example", "tok", "t1")
BASE = "https://graph.test"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


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


def test_parse_event_normalises_times_rooms_and_meta() -> None:
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
    event = graph_event.parse_event(raw)
    assert event.start == START and event.end == START + dt.timedelta(hours=1)
    assert event.room_email == "room1@contoso.example" and event.room_response is RoomResponse.DECLINED
    assert event.tentative is True and event.etag == "ck1" and event.meta == META and not event.cancelled
    removed = graph_event.parse_event({"id": "x", "@removed": {"reason": "deleted"}})
    assert removed.cancelled


def _provider(handler: Any) -> GraphCalendarProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = GraphClient(http, base_url=BASE, limiter=KeyedLimiter(4))
    return GraphCalendarProvider(client, clock=lambda: NOW)


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


def graph_error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": f"{code}!"}})


async def test_get_reads_our_properties_and_missing_events_are_none_or_not_found() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return graph_error(404, "ErrorItemNotFound")

    provider = _provider(handler)
    assert await provider.get_event(ACCESS, "AAMk/1") is None
    assert seen[0].url.raw_path.startswith(b"/v1.0/me/events/AAMk%2F1?")
    assert graph_event.META_PROPERTY in seen[0].url.params["$expand"]
    with pytest.raises(EventNotFound) as caught:
        await provider.delete_event(ACCESS, "AAMk1")
    assert caught.value.reason == "ErrorItemNotFound"


def _delta_event(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "subject": "Visit", "start": {"dateTime": "2026-01-02T01:00:00.0000000"}}


async def test_delta_follows_next_links_and_returns_the_delta_link() -> None:
    pages = {
        "first": {
            "value": [_delta_event("a"), {"id": "gone", "@removed": {"reason": "deleted"}}],
            "@odata.nextLink": f"{BASE}/v1.0/me/calendarView/delta?$skiptoken=s1",
        },
        "s1": {
            "value": [_delta_event("b")],
            "@odata.deltaLink": f"{BASE}/v1.0/me/calendarView/delta?$deltatoken=d1",
        },
    }

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("$skiptoken")
        if token is None:
            assert request.url.params["startDateTime"] == "2025-12-25T00:00:00Z"
            assert request.url.params["endDateTime"] == "2026-03-02T00:00:00Z"
        return httpx.Response(200, json=pages[token or "first"])

    page = await _provider(handler).list_changes(ACCESS, None)
    assert [(e.event_id, e.cancelled) for e in page.events] == [("a", False), ("gone", True), ("b", False)]
    assert page.events[0].start == dt.datetime(2026, 1, 2, 1, tzinfo=dt.UTC)
    assert page.full and page.next_cursor is not None and page.next_cursor.endswith("$deltatoken=d1")


@pytest.mark.parametrize("code", ["syncStateNotFound", "resyncRequired", "SyncStateInvalid"])
async def test_a_gone_delta_link_asks_for_a_resync(code: str) -> None:
    provider = _provider(lambda r: graph_error(410, code))
    with pytest.raises(SyncCursorInvalid) as caught:
        await provider.list_changes(ACCESS, f"{BASE}/v1.0/me/calendarView/delta?$deltatoken=old")
    assert caught.value.reason == code


async def test_free_busy_asks_twenty_addresses_per_call_in_ranges_under_62_days() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(
            200, json={"value": [{"scheduleId": s, "scheduleItems": []} for s in body["schedules"]]}
        )

    addresses = [f"room{i}@contoso.example" for i in range(45)]
    busy = await _provider(handler).free_busy(ACCESS, addresses, NOW, NOW + dt.timedelta(days=70))
    assert [len(b["schedules"]) for b in bodies] == [20, 20, 5, 20, 20, 5]
    assert bodies[0]["startTime"] == {"dateTime": "2026-01-01T00:00:00", "timeZone": "UTC"}
    assert (
        bodies[0]["endTime"]
        == bodies[3]["startTime"]
        == {"dateTime": "2026-03-03T00:00:00", "timeZone": "UTC"}
    )
    assert len(busy) == 45


async def test_room_lists_are_paged_and_rooms_found_by_place_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/rooms"):
            assert request.url.path == "/v1.0/places/b@x.com/microsoft.graph.roomlist/rooms"
            room = {"id": "r", "emailAddress": "r@x.com", "displayName": "R", "floorNumber": 3, "capacity": 8}
            return httpx.Response(200, json={"value": [room, {"id": "no-mail"}]})
        if request.url.params.get("$skip") == "1":
            return httpx.Response(
                200, json={"value": [{"id": "2", "displayName": "B", "emailAddress": "b@x.com"}]}
            )
        return httpx.Response(
            200,
            json={
                "value": [{"id": "1", "displayName": "A", "emailAddress": "a@x.com"}],
                "@odata.nextLink": f"{BASE}/v1.0/places/microsoft.graph.roomlist?$top=1&$skip=1",
            },
        )

    provider = _provider(handler)
    assert [(g.id, g.name) for g in await provider.list_room_groups(ACCESS)] == [
        ("a@x.com", "A"),
        ("b@x.com", "B"),
    ]
    [room] = await provider.list_rooms(ACCESS, "2")
    assert (room.email, room.group_id, room.floor, room.capacity) == ("r@x.com", "2", "3", 8)


async def test_subscriptions_are_opened_renewed_in_place_and_stopped() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []
    expiry = "2026-01-01T01:00:00.0000000Z"

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        seen.append((request.method, request.url.path, body))
        if request.method == "DELETE":
            return graph_error(404, "ResourceNotFound")  # already gone: fine
        return httpx.Response(
            200,
            json={"id": "sub-1", "resource": "me/events", "clientState": "cs", "expirationDateTime": expiry},
        )

    provider = _provider(handler)
    address = "https://me.example/notifications/outlook"
    channel = await provider.open_channel(
        ACCESS, channel_id="ignored", token="cs", address=address, ttl_seconds=3600
    )
    assert (channel.channel_id, channel.token, channel.resource_id) == ("sub-1", "cs", "me/events")
    assert channel.expires_at == NOW + dt.timedelta(hours=1)
    renewed = await provider.renew_channel(ACCESS, channel, 10**6)
    assert renewed.token == "cs" and renewed.expires_at == channel.expires_at
    await provider.stop_channel(ACCESS, channel)
    method, path, body = seen[0]
    assert (method, path) == ("POST", "/v1.0/subscriptions")
    assert body["changeType"] == "created,updated,deleted" and body["resource"] == "me/events"
    assert body["notificationUrl"] == body["lifecycleNotificationUrl"] == address
    assert body["expirationDateTime"] == "2026-01-01T01:00:00Z" and body["clientState"] == "cs"
    assert seen[1][:2] == ("PATCH", "/v1.0/subscriptions/sub-1")
    assert seen[1][2] == {"expirationDateTime": "2026-01-07T23:50:00Z"}  # capped at Graph's 10070 minutes
    assert seen[2][:2] == ("DELETE", "/v1.0/subscriptions/sub-1")
