"""``POST /__emulator/calendars/{id}/events/bulk``: events inserted as ``events.insert`` would,
with one push notification for the batch (when asked) instead of one per event."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from provider_emulators.google.testing import GoogleControl, PushReceiver, SeededWorld

ApiFactory = Callable[..., httpx.Client]
EVENTS = "/calendar/v3/calendars/primary/events"
BULK = "/__emulator/calendars/alice@example.com/events/bulk"


def _event(n: int) -> dict[str, object]:
    return {
        "id": f"bulk{n:04}",
        "summary": f"seeded {n}",
        "status": "tentative",
        "start": {"dateTime": f"2030-01-07T{9 + n:02}:00:00Z"},
        "end": {"dateTime": f"2030-01-07T{9 + n:02}:30:00Z"},
        "extendedProperties": {"private": {"vsAppointmentId": f"apt-{n}"}},
    }


def _messages_sent(control: GoogleControl) -> int:
    return int(control.state()["channels"]["bulk"]["message_number"])


def test_bulk_inserts_like_the_api_and_notifies_once(
    google_api: ApiFactory, google_control: GoogleControl, push_receiver: PushReceiver
) -> None:
    api = google_api()
    listed = api.get(EVENTS).json()
    watched = api.post(
        f"{EVENTS}/watch", json={"id": "bulk", "type": "web_hook", "address": push_receiver.url}
    )
    assert watched.status_code == 200
    push_receiver.wait_for(1)  # the channel's "sync" message

    quiet = google_control.http.post(BULK, json={"items": [_event(n) for n in range(3)]})
    assert quiet.status_code == 200
    stored = quiet.json()["items"]
    assert [e["id"] for e in stored] == ["bulk0000", "bulk0001", "bulk0002"]
    assert all(e["etag"] and e["status"] == "tentative" and e["kind"] == "calendar#event" for e in stored)
    assert _messages_sent(google_control) == 1  # only the "sync" message: none per inserted event
    assert google_control.http.post(BULK, json={"items": [], "notify": True}).status_code == 200
    assert _messages_sent(google_control) == 2
    google_control.direct_edit("alice@example.com", "bulk0000", {"summary": "renamed"})

    received = push_receiver.wait_for(3)
    assert [h["X-Goog-Resource-State"] for h in received] == ["sync", "exists", "exists"]
    changed = api.get(EVENTS, params={"syncToken": listed["nextSyncToken"]}).json()["items"]
    assert {e["id"]: e["etag"] for e in changed if e["id"] != "bulk0000"} == {
        e["id"]: e["etag"] for e in stored[1:]
    }
    after = api.get(EVENTS, params={"syncToken": quiet.json()["nextSyncToken"]}).json()["items"]
    assert [e["id"] for e in after] == ["bulk0000"]  # only the edit made after the batch
    assert api.get(f"{EVENTS}/bulk0001").json()["extendedProperties"]["private"]["vsAppointmentId"] == "apt-1"


def test_bulk_refuses_what_insert_refuses(google_control: GoogleControl, google_world: SeededWorld) -> None:
    assert google_control.http.post(BULK, json={"items": [_event(7)]}).status_code == 200
    assert google_control.http.post(BULK, json={"items": [_event(7)]}).status_code == 409
    no_end = {"id": "bulk9999", "start": {"dateTime": "2030-01-07T09:00:00Z"}}
    assert google_control.http.post(BULK, json={"items": [no_end]}).status_code == 400
    assert google_control.http.post(BULK, json={"events": []}).status_code == 422
