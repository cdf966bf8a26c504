"""Google JSON ↔ engine model (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calendar_google.domain.mapping import (
    PROP_APPOINTMENT,
    building_group,
    event_body,
    parse_busy,
    parse_channel,
    parse_event,
    resource_room,
)
from calendar_sync.core import CalendarEntry, EntryKind, EventMeta, RoomResponse, entry_differences
from visitor_common.events import RoomRef

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
META = EventMeta(appointment_id="a1", tenant_id="t1", appointment_version=3, entry_key="slot:s1")


def entry(room: bool = True, tentative: bool = True) -> CalendarEntry:
    return CalendarEntry(
        key="slot:s1",
        kind=EntryKind.HOLD if tentative else EntryKind.CONFIRMED,
        start=START,
        end=START + timedelta(hours=1),
        room=RoomRef(email="room@example.com", name="会議室A") if room else None,
        title="[仮押さえ] Visit",
        description="Guest: G <g@example.com>",
        tentative=tentative,
    )


def test_insert_body_carries_id_room_status_and_private_properties() -> None:
    body = event_body(entry(), META, "abc123")
    assert body["id"] == "abc123" and body["status"] == "tentative"
    assert body["start"] == {"dateTime": "2026-12-01T01:00:00Z", "timeZone": "UTC"}
    assert body["attendees"] == [{"email": "room@example.com", "resource": True, "displayName": "会議室A"}]
    assert body["extendedProperties"]["private"] == {
        "vsAppointmentId": "a1",
        "vsTenantId": "t1",
        "vsVersion": "3",
        "vsEntryKey": "slot:s1",
    }
    assert "id" not in event_body(entry(tentative=False), META)
    assert event_body(entry(tentative=False), META)["status"] == "confirmed"
    assert event_body(entry(room=False), META)["attendees"] == []


def test_a_round_trip_shows_no_differences() -> None:
    resource = {**event_body(entry(), META, "abc123"), "etag": '"1"'}
    resource["attendees"][0]["responseStatus"] = "accepted"
    event = parse_event(resource)
    assert event.meta == META and event.etag == '"1"' and event.room_response is RoomResponse.ACCEPTED
    assert event.is_ours(META)
    assert entry_differences(entry(), event) == []


def test_edits_show_as_differences_and_missing_summary_counts() -> None:
    resource = event_body(entry(), META, "abc123")
    del resource["summary"]
    resource["attendees"] = []
    fields = [d[0] for d in entry_differences(entry(), parse_event(resource))]
    assert fields == ["title", "room"]


def test_a_minimal_cancelled_event() -> None:
    event = parse_event({"id": "abc123", "status": "cancelled"})
    assert event.cancelled and event.meta is None and event.title is None and event.tentative is None


def test_declined_room() -> None:
    resource = event_body(entry(), META, "abc123")
    resource["attendees"][0]["responseStatus"] = "declined"
    assert parse_event(resource).room_response is RoomResponse.DECLINED


def test_free_busy_and_errors() -> None:
    busy = parse_busy(
        {
            "host@example.com": {"busy": [{"start": "2026-12-01T01:00:00Z", "end": "2026-12-01T02:00:00Z"}]},
            "x@example.com": {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []},
        }
    )
    assert busy["host@example.com"].busy[0].start == START
    assert busy["x@example.com"].error == "notFound"


def test_directory_resources() -> None:
    assert building_group({"buildingId": "hq", "buildingName": "本社"}).name == "本社"
    room = resource_room(
        {
            "resourceEmail": "C_1@resource.calendar.google.com",
            "resourceName": "会議室A",
            "resourceCategory": "CONFERENCE_ROOM",
            "capacity": 6,
            "buildingId": "hq",
            "floorName": "1",
        }
    )
    assert room is not None and room.email == "c_1@resource.calendar.google.com" and room.group_id == "hq"
    assert resource_room({"resourceEmail": "p@x.com", "resourceCategory": "OTHER"}) is None


def test_channel() -> None:
    channel = parse_channel({"id": "c1", "resourceId": "r1", "expiration": "1800000000000"}, "tok")
    assert channel.token == "tok" and channel.expires_at.year == 2027
    assert PROP_APPOINTMENT == "vsAppointmentId"
