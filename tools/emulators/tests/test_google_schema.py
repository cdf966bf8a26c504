"""Every field the emulator returns exists in Google's published discovery documents."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import googleapiclient
import httpx
import pytest

from provider_emulators.google.testing import PushReceiver, SeededWorld

ApiFactory = Callable[..., httpx.Client]
DOCS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
EVENTS = "/calendar/v3/calendars/primary/events"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DOCS / name).read_text())
    return document


CALENDAR = load("calendar.v3.json")
DIRECTORY = load("admin.directory_v1.json")


def unknown_fields(value: Any, schema: dict[str, Any], doc: dict[str, Any], path: str = "$") -> list[str]:
    """Paths in ``value`` that the schema does not define (recursing through $ref/items/maps)."""
    if "$ref" in schema:
        return unknown_fields(value, doc["schemas"][schema["$ref"]], doc, path)
    problems: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        if properties is None and extra is not None:
            for key, item in value.items():
                problems += unknown_fields(item, extra, doc, f"{path}.{key}")
            return problems
        for key, item in value.items():
            if properties is None or key not in properties:
                if extra is None:
                    problems.append(f"{path}.{key}")
                continue
            problems += unknown_fields(item, properties[key], doc, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += unknown_fields(item, schema.get("items", {}), doc, f"{path}[{index}]")
    return problems


def assert_schema(value: Any, schema_name: str, doc: dict[str, Any]) -> None:
    assert unknown_fields(value, {"$ref": schema_name}, doc) == []


def test_checker_catches_unknown_fields() -> None:
    assert unknown_fields({"summary": "x", "bogus": 1}, {"$ref": "Event"}, CALENDAR) == ["$.bogus"]
    assert unknown_fields({"start": {"when": 1}}, {"$ref": "Event"}, CALENDAR) == ["$.start.when"]


@pytest.fixture
def full_event(google_api: ApiFactory, google_world: SeededWorld) -> dict[str, Any]:
    body = {
        "id": "schema0001",
        "summary": "s",
        "description": "d",
        "location": "l",
        "status": "tentative",
        "transparency": "opaque",
        "start": {"dateTime": "2030-01-07T10:00:00+09:00", "timeZone": "Asia/Tokyo"},
        "end": {"dateTime": "2030-01-07T11:00:00+09:00", "timeZone": "Asia/Tokyo"},
        "attendees": [
            {"email": google_world.admin},
            {"email": "guest@acme.test", "displayName": "Guest", "optional": True},
            {"email": google_world.room_email(), "resource": True},
        ],
        "extendedProperties": {"private": {"a": "1"}, "shared": {"b": "2"}},
        "reminders": {"useDefault": False, "overrides": [{"method": "popup", "minutes": 10}]},
        "source": {"title": "受付", "url": "https://example.test/a/1"},
    }
    result: dict[str, Any] = google_api().post(EVENTS, json=body).json()
    return result


def test_event_and_events_list(google_api: ApiFactory, full_event: dict[str, Any]) -> None:
    assert_schema(full_event, "Event", CALENDAR)
    api = google_api()
    api.delete(f"{EVENTS}/schema0001")
    listing = api.get(EVENTS, params={"showDeleted": "true", "maxResults": 1}).json()
    assert_schema(listing, "Events", CALENDAR)


def test_freebusy_response(
    google_api: ApiFactory, full_event: dict[str, Any], google_world: SeededWorld
) -> None:
    items = [{"id": "primary"}, {"id": google_world.room_email()}, {"id": "x@unknown.test"}]
    body = {"timeMin": "2030-01-07T00:00:00Z", "timeMax": "2030-01-08T00:00:00Z", "items": items}
    response = google_api().post("/calendar/v3/freeBusy", json=body).json()
    assert_schema(response, "FreeBusyResponse", CALENDAR)
    too_many = {**body, "items": [{"id": f"u{i}@example.com"} for i in range(51)]}
    assert_schema(
        google_api().post("/calendar/v3/freeBusy", json=too_many).json(), "FreeBusyResponse", CALENDAR
    )


def test_calendar(google_api: ApiFactory) -> None:
    assert_schema(google_api().get("/calendar/v3/calendars/primary").json(), "Calendar", CALENDAR)


def test_channel(google_api: ApiFactory, push_receiver: PushReceiver) -> None:
    body = {"id": "ch", "type": "web_hook", "address": push_receiver.url, "token": "t"}
    assert_schema(google_api().post(f"{EVENTS}/watch", json=body).json(), "Channel", CALENDAR)


def test_directory_resources(google_api: ApiFactory, google_world: SeededWorld) -> None:
    api = google_api()
    base = "/admin/directory/v1/customer/my_customer/resources"
    assert_schema(api.get(f"{base}/buildings").json(), "Buildings", DIRECTORY)
    assert_schema(api.get(f"{base}/buildings/hq").json(), "Building", DIRECTORY)
    assert_schema(api.get(f"{base}/calendars").json(), "CalendarResources", DIRECTORY)
    room_id = google_world.rooms[0]["resourceId"]
    assert_schema(api.get(f"{base}/calendars/{room_id}").json(), "CalendarResource", DIRECTORY)


def test_error_body_matches_error_schema(google_http: httpx.Client) -> None:
    error = google_http.get(EVENTS).json()["error"]
    assert set(error) == {"code", "message", "errors"}
    assert set(error["errors"][0]) <= {"domain", "reason", "message", "locationType", "location"}
