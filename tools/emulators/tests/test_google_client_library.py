"""Google's own client library (google-api-python-client + google-auth) works against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import google.oauth2.credentials
import google_auth_httplib2
import httplib2
import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from provider_emulators.core.server import EmulatorServer
from provider_emulators.google.testing import GoogleControl, SeededWorld


@pytest.fixture
def service_factory(
    google_server: EmulatorServer, google_control: GoogleControl, google_world: SeededWorld
) -> Callable[..., Any]:
    """``service_factory("calendar", "v3", email)`` → a discovery client pointed at the emulator."""
    endpoints = {"calendar": "/calendar/v3/", "admin": "/"}

    def make(api: str, version: str, email: str = "alice@example.com") -> Any:
        tokens = google_control.mint_token(email, google_world.client_id)
        credentials = google.oauth2.credentials.Credentials(
            token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            token_uri=f"{google_server.base_url}/token",
            client_id=google_world.client_id,
            client_secret=google_world.client_secret,
        )
        http = google_auth_httplib2.AuthorizedHttp(
            credentials, http=httplib2.Http(ca_certs=str(google_server.ca_path))
        )
        return build(
            api,
            version,
            http=http,
            static_discovery=True,
            client_options={"api_endpoint": f"{google_server.base_url}{endpoints[api]}"},
        )

    return make


def test_calendar_round_trip_with_discovery_client(service_factory: Callable[..., Any]) -> None:
    calendar = service_factory("calendar", "v3")
    body = {
        "id": "lib0000001",
        "summary": "via googleapiclient",
        "start": {"dateTime": "2030-01-07T10:00:00+09:00"},
        "end": {"dateTime": "2030-01-07T11:00:00+09:00"},
        "extendedProperties": {"private": {"appointmentId": "apt-9"}},
    }
    created = calendar.events().insert(calendarId="primary", body=body, sendUpdates="none").execute()
    assert created["id"] == "lib0000001"
    listing = (
        calendar.events().list(calendarId="primary", privateExtendedProperty="appointmentId=apt-9").execute()
    )
    assert [e["id"] for e in listing["items"]] == ["lib0000001"]
    sync_token = listing["nextSyncToken"]
    calendar.events().patch(calendarId="primary", eventId="lib0000001", body={"summary": "moved"}).execute()
    calendar.events().delete(calendarId="primary", eventId="lib0000001").execute()
    changes = calendar.events().list(calendarId="primary", syncToken=sync_token).execute()
    assert [(e["id"], e["status"]) for e in changes["items"]] == [("lib0000001", "cancelled")]
    busy = (
        calendar.freebusy()
        .query(
            body={
                "timeMin": "2030-01-07T00:00:00Z",
                "timeMax": "2030-01-08T00:00:00Z",
                "items": [{"id": "primary"}],
            }
        )
        .execute()
    )
    assert busy["calendars"]["primary"]["busy"] == []


def test_errors_parse_as_http_errors(service_factory: Callable[..., Any]) -> None:
    calendar = service_factory("calendar", "v3")
    body = {"id": "lib0000002", "start": {"date": "2030-01-07"}, "end": {"date": "2030-01-08"}}
    calendar.events().insert(calendarId="primary", body=body).execute()
    with pytest.raises(HttpError) as duplicate:
        calendar.events().insert(calendarId="primary", body=body).execute()
    assert duplicate.value.status_code == 409
    assert duplicate.value.error_details[0]["reason"] == "duplicate"
    with pytest.raises(HttpError) as gone:
        calendar.events().list(calendarId="primary", syncToken="stale").execute()
    assert gone.value.status_code == 410
    assert gone.value.error_details[0]["reason"] == "fullSyncRequired"


def test_expired_token_is_refreshed_transparently(
    service_factory: Callable[..., Any], google_control: GoogleControl
) -> None:
    calendar = service_factory("calendar", "v3")
    google_control.expire_tokens()
    assert calendar.events().list(calendarId="primary").execute()["kind"] == "calendar#events"
    assert google_control.requests()["POST /token"] == 1


def test_directory_with_discovery_client(
    service_factory: Callable[..., Any], google_world: SeededWorld
) -> None:
    directory = service_factory("admin", "directory_v1")
    buildings = directory.resources().buildings().list(customer="my_customer").execute()
    assert [b["buildingId"] for b in buildings["buildings"]] == google_world.building_ids
    rooms = directory.resources().calendars().list(customer="my_customer", maxResults=2).execute()
    assert len(rooms["items"]) == 2
    rest = (
        directory.resources()
        .calendars()
        .list(customer="my_customer", pageToken=rooms["nextPageToken"])
        .execute()
    )
    assert len(rest["items"]) == 1
    forbidden = service_factory("admin", "directory_v1", email=google_world.member)
    with pytest.raises(HttpError) as denied:
        forbidden.resources().buildings().list(customer="my_customer").execute()
    assert denied.value.status_code == 403
    assert "Not Authorized to access this resource/api" in str(denied.value)
