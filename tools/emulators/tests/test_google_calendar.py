"""Calendar API v3: events, rooms, etags, sync tokens, free/busy, push channels, auth, faults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from provider_emulators.google.testing import GoogleControl, PushReceiver, SeededWorld

EVENTS = "/calendar/v3/calendars/primary/events"
ApiFactory = Callable[..., httpx.Client]


def event_body(
    event_id: str | None = None, start: str = "10:00", end: str = "11:00", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": "来訪: ACME 様",
        "start": {"dateTime": f"2030-01-07T{start}:00+09:00", "timeZone": "Asia/Tokyo"},
        "end": {"dateTime": f"2030-01-07T{end}:00+09:00", "timeZone": "Asia/Tokyo"},
        "extendedProperties": {"private": {"appointmentId": "apt-1"}},
        **extra,
    }
    if event_id is not None:
        body["id"] = event_id
    return body


def reason(response: httpx.Response) -> str:
    error = response.json()["error"]
    assert error["code"] == response.status_code
    return str(error["errors"][0]["reason"])


@pytest.fixture
def api(google_api: ApiFactory) -> httpx.Client:
    return google_api()


# ----- insert / get / patch / update / delete -------------------------------------------------


def test_insert_with_client_id_and_get(api: httpx.Client, google_world: SeededWorld) -> None:
    created = api.post(EVENTS, json=event_body("apt0001abc"))
    assert created.status_code == 200
    event = created.json()
    assert event["id"] == "apt0001abc"
    assert event["kind"] == "calendar#event"
    assert event["status"] == "confirmed"
    assert event["sequence"] == 0
    assert event["organizer"] == {"email": google_world.admin, "self": True, "displayName": "Alice Admin"}
    assert event["extendedProperties"] == {"private": {"appointmentId": "apt-1"}}
    assert event["etag"].startswith('"')
    fetched = api.get(f"{EVENTS}/apt0001abc").json()
    assert fetched == event
    by_address = api.get(f"/calendar/v3/calendars/{google_world.admin}/events/apt0001abc")
    assert by_address.json() == event


def test_calendars_get_primary(
    api: httpx.Client, google_control: GoogleControl, google_api: ApiFactory, google_world: SeededWorld
) -> None:
    calendar = api.get("/calendar/v3/calendars/primary").json()
    assert calendar["kind"] == "calendar#calendar"
    assert calendar["id"] == google_world.admin
    assert calendar["timeZone"] == "UTC"
    google_control.add_user("tokyo@example.com", time_zone="Asia/Tokyo")
    tokyo = google_api("tokyo@example.com")
    assert tokyo.get("/calendar/v3/calendars/primary").json()["timeZone"] == "Asia/Tokyo"
    assert tokyo.get(EVENTS).json()["timeZone"] == "Asia/Tokyo"
    assert api.get(f"/calendar/v3/calendars/{google_world.member}").status_code == 404


def test_insert_without_id_generates_base32hex_id(api: httpx.Client) -> None:
    event = api.post(EVENTS, json=event_body()).json()
    assert set(event["id"]) <= set("abcdefghijklmnopqrstuv0123456789")
    assert len(event["id"]) >= 5


@pytest.mark.parametrize("bad_id", ["abcd", "ABCDE12345", "abcdw12345", "abc-de-123", "x" * 5, "a" * 1025])
def test_insert_rejects_non_base32hex_ids(api: httpx.Client, bad_id: str) -> None:
    response = api.post(EVENTS, json=event_body(bad_id))
    assert response.status_code == 400
    assert reason(response) == "invalid"


def test_duplicate_id_is_409_even_after_delete(api: httpx.Client) -> None:
    api.post(EVENTS, json=event_body("dup0000001"))
    again = api.post(EVENTS, json=event_body("dup0000001"))
    assert again.status_code == 409
    assert reason(again) == "duplicate"
    assert again.json()["error"]["message"] == "The requested identifier already exists."
    assert api.delete(f"{EVENTS}/dup0000001").status_code == 204
    after_delete = api.post(EVENTS, json=event_body("dup0000001"))
    assert after_delete.status_code == 409


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"start": {"dateTime": "2030-01-07T10:00:00Z"}}, "required"),
        (event_body(start="12:00", end="11:00"), "timeRangeEmpty"),
        (event_body(status="done"), "invalid"),
        (event_body(transparency="see-through"), "invalid"),
        (event_body(attendees=[{"name": "no email"}]), "invalid"),
        (event_body(extendedProperties={"private": {"n": 1}}), "invalid"),
        (event_body(summary=42), "invalid"),
        (event_body(sequence="x"), "invalid"),
        ({"start": {"dateTime": "not-a-date"}, "end": {"dateTime": "2030-01-07T10:00:00Z"}}, "invalid"),
        (
            {"start": {"dateTime": "2030-01-07T10:00:00"}, "end": {"dateTime": "2030-01-07T11:00:00"}},
            "invalid",
        ),
        (
            {
                "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "Mars/Base"},
                "end": {"date": "2030-01-08"},
            },
            "invalid",
        ),
        ({"start": {}, "end": {"date": "2030-01-08"}}, "required"),
        ({"start": {"date": "2030-13-01"}, "end": {"date": "2030-01-08"}}, "invalid"),
    ],
)
def test_insert_validation_errors(api: httpx.Client, body: dict[str, Any], expected: str) -> None:
    response = api.post(EVENTS, json=body)
    assert response.status_code == 400
    assert reason(response) == expected


def test_malformed_json_body_is_400(api: httpx.Client) -> None:
    response = api.post(EVENTS, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert api.post(EVENTS, json=["a list"]).status_code == 400


def test_all_day_and_floating_times(api: httpx.Client) -> None:
    all_day = api.post(EVENTS, json={"start": {"date": "2030-01-07"}, "end": {"date": "2030-01-08"}})
    assert all_day.status_code == 200
    floating = {
        "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "Asia/Tokyo"},
        "end": {"dateTime": "2030-01-07T11:00:00", "timeZone": "Asia/Tokyo"},
    }
    assert api.post(EVENTS, json=floating).status_code == 200


def test_get_unknown_event_and_other_users_calendar_are_404(
    api: httpx.Client, google_world: SeededWorld
) -> None:
    assert reason(api.get(f"{EVENTS}/nosuchevent")) == "notFound"
    other = api.get(f"/calendar/v3/calendars/{google_world.member}/events")
    assert other.status_code == 404


def test_patch_merges_and_bumps_etag_sequence_updated(api: httpx.Client) -> None:
    event = api.post(EVENTS, json=event_body("patch00001")).json()
    patched = api.patch(
        f"{EVENTS}/patch00001", json={"summary": "changed", "extendedProperties": {"private": {"v": "2"}}}
    )
    assert patched.status_code == 200
    body = patched.json()
    assert body["summary"] == "changed"
    assert body["start"] == event["start"]
    assert body["extendedProperties"]["private"] == {"appointmentId": "apt-1", "v": "2"}
    assert body["etag"] != event["etag"]
    assert body["updated"] >= event["updated"]
    assert body["sequence"] == 0
    moved = api.patch(
        f"{EVENTS}/patch00001", json={"start": {"dateTime": "2030-01-07T09:00:00+09:00"}}
    ).json()
    assert moved["sequence"] == 1
    assert moved["start"] == {"dateTime": "2030-01-07T09:00:00+09:00", "timeZone": "Asia/Tokyo"}
    cleared = api.patch(f"{EVENTS}/patch00001", json={"description": "x", "summary": None}).json()
    assert "summary" not in cleared


@pytest.mark.parametrize(
    "patch",
    [
        {"start": None},
        {"end": {"dateTime": "bad"}},
        {"end": {"dateTime": "2030-01-07T09:00:00+09:00"}},
        {"status": "gone"},
    ],
)
def test_patch_validation_errors(api: httpx.Client, patch: dict[str, Any]) -> None:
    api.post(EVENTS, json=event_body("patchbad01"))
    response = api.patch(f"{EVENTS}/patchbad01", json=patch)
    assert response.status_code == 400
    assert api.get(f"{EVENTS}/patchbad01").json()["start"] == event_body()["start"]


def test_update_replaces_event(api: httpx.Client) -> None:
    api.post(EVENTS, json=event_body("update0001", description="old"))
    replaced = api.put(f"{EVENTS}/update0001", json=event_body(summary="new"))
    assert replaced.status_code == 200
    assert "description" not in replaced.json()
    assert replaced.json()["summary"] == "new"
    assert replaced.json()["id"] == "update0001"
    missing_end = api.put(f"{EVENTS}/update0001", json={"start": {"date": "2030-01-07"}})
    assert reason(missing_end) == "required"
    assert api.put(f"{EVENTS}/unknown001", json=event_body()).status_code == 404
    assert api.patch(f"{EVENTS}/unknown001", json={}).status_code == 404


def test_if_match_precondition(api: httpx.Client) -> None:
    event = api.post(EVENTS, json=event_body("etag000001")).json()
    stale = '"1"'
    for call in (
        lambda: api.patch(f"{EVENTS}/etag000001", json={"summary": "x"}, headers={"If-Match": stale}),
        lambda: api.put(f"{EVENTS}/etag000001", json=event_body(), headers={"If-Match": stale}),
        lambda: api.delete(f"{EVENTS}/etag000001", headers={"If-Match": stale}),
    ):
        response = call()
        assert response.status_code == 412
        assert reason(response) == "conditionNotMet"
    ok = api.patch(f"{EVENTS}/etag000001", json={"summary": "x"}, headers={"If-Match": event["etag"]})
    assert ok.status_code == 200


def test_delete_marks_cancelled_then_410(api: httpx.Client) -> None:
    api.post(EVENTS, json=event_body("delete0001"))
    assert api.delete(f"{EVENTS}/delete0001").status_code == 204
    cancelled = api.get(f"{EVENTS}/delete0001").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["sequence"] == 1
    again = api.delete(f"{EVENTS}/delete0001")
    assert again.status_code == 410
    assert reason(again) == "deleted"
    assert api.delete(f"{EVENTS}/missing001").status_code == 404
    restored = api.patch(f"{EVENTS}/delete0001", json={"status": "confirmed"})
    assert restored.json()["status"] == "confirmed"


def test_tentative_status_is_kept(api: httpx.Client) -> None:
    assert api.post(EVENTS, json=event_body(status="tentative")).json()["status"] == "tentative"


# ----- rooms ---------------------------------------------------------------------------------


def test_rooms_accept_when_free_and_decline_when_busy(
    api: httpx.Client, google_api: ApiFactory, google_world: SeededWorld
) -> None:
    room = {"email": google_world.room_email(0), "resource": True}
    first = api.post(EVENTS, json=event_body("room000001", attendees=[room])).json()
    assert first["attendees"][0]["responseStatus"] == "accepted"
    assert first["attendees"][0]["resource"] is True
    other_user = google_api(google_world.member)
    clash = other_user.post(
        EVENTS, json=event_body("room000002", start="10:15", end="10:45", attendees=[room])
    )
    assert clash.json()["attendees"][0]["responseStatus"] == "declined"
    adjacent = api.post(EVENTS, json=event_body("room000003", start="11:00", end="12:00", attendees=[room]))
    assert adjacent.json()["attendees"][0]["responseStatus"] == "accepted"
    api.delete(f"{EVENTS}/room000001")
    retry = other_user.patch(f"{EVENTS}/room000002", json={"summary": "retry"}).json()
    assert retry["attendees"][0]["responseStatus"] == "accepted"


def test_room_booking_keeps_acceptance_on_unrelated_patch(
    api: httpx.Client, google_world: SeededWorld
) -> None:
    room = {"email": google_world.room_email(1), "resource": True}
    api.post(EVENTS, json=event_body("room000010", attendees=[room, {"email": "guest@acme.test"}]))
    patched = api.patch(f"{EVENTS}/room000010", json={"summary": "renamed"}).json()
    statuses = {a["email"]: a["responseStatus"] for a in patched["attendees"]}
    assert statuses == {google_world.room_email(1): "accepted", "guest@acme.test": "needsAction"}


def test_cancelled_and_tentative_events(api: httpx.Client, google_world: SeededWorld) -> None:
    room = {"email": google_world.room_email(2), "resource": True}
    tentative = api.post(EVENTS, json=event_body("hold000001", status="tentative", attendees=[room])).json()
    assert tentative["attendees"][0]["responseStatus"] == "accepted"
    clash = api.post(EVENTS, json=event_body("hold000002", attendees=[room])).json()
    assert clash["attendees"][0]["responseStatus"] == "declined"


# ----- list, paging, sync tokens ----------------------------------------------------------------


def test_list_time_window_show_deleted_and_paging(api: httpx.Client) -> None:
    for index, hour in enumerate(("09", "10", "11", "12", "13")):
        api.post(EVENTS, json=event_body(f"list00000{index}", start=f"{hour}:00", end=f"{hour}:30"))
    api.delete(f"{EVENTS}/list000004")
    window = {
        "timeMin": "2030-01-07T01:00:00Z",
        "timeMax": "2030-01-07T04:00:00Z",
        "singleEvents": "true",
        "orderBy": "startTime",
    }
    listed = api.get(EVENTS, params=window).json()
    assert [e["id"] for e in listed["items"]] == ["list000001", "list000002", "list000003"]
    assert "nextSyncToken" in listed
    all_ids: list[str] = []
    page: dict[str, Any] = {"maxResults": 2, "showDeleted": "true"}
    pages = 0
    while True:
        body = api.get(EVENTS, params=page).json()
        pages += 1
        all_ids += [e["id"] for e in body["items"]]
        if "nextPageToken" not in body:
            assert "nextSyncToken" in body
            break
        assert "nextSyncToken" not in body
        page = {"maxResults": 2, "showDeleted": "true", "pageToken": body["nextPageToken"]}
    assert pages == 3
    assert sorted(all_ids) == [f"list00000{i}" for i in range(5)]
    default = api.get(EVENTS).json()
    assert "list000004" not in [e["id"] for e in default["items"]]


def test_private_extended_property_and_q_filters(api: httpx.Client) -> None:
    api.post(EVENTS, json=event_body("prop000001"))
    api.post(
        EVENTS, json=event_body("prop000002", extendedProperties={"private": {"appointmentId": "apt-2"}})
    )
    found = api.get(EVENTS, params={"privateExtendedProperty": "appointmentId=apt-2"}).json()["items"]
    assert [e["id"] for e in found] == ["prop000002"]
    assert len(api.get(EVENTS, params={"q": "acme"}).json()["items"]) == 2
    assert (
        api.get(EVENTS, params={"iCalUID": "prop000001@google.com"}).json()["items"][0]["id"] == "prop000001"
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"timeMin": "2030-01-08T00:00:00Z", "timeMax": "2030-01-07T00:00:00Z"}, "timeRangeEmpty"),
        ({"timeMin": "yesterday"}, "invalid"),
        ({"timeMin": "2030-01-07T00:00:00"}, "invalid"),
        ({"maxResults": "0"}, "invalid"),
        ({"maxResults": "many"}, "invalid"),
        ({"orderBy": "startTime"}, "invalid"),
        ({"orderBy": "size"}, "invalid"),
        ({"pageToken": "garbage"}, "invalid"),
        ({"syncToken": "x", "timeMin": "2030-01-07T00:00:00Z"}, "invalid"),
    ],
)
def test_list_errors(api: httpx.Client, params: dict[str, str], expected: str) -> None:
    response = api.get(EVENTS, params=params)
    assert response.status_code == 400
    assert reason(response) == expected


def test_incremental_sync_returns_changes_including_cancelled(
    api: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    api.post(EVENTS, json=event_body("chg0000001"))
    api.post(EVENTS, json=event_body("chg0000002"))
    token = api.get(EVENTS).json()["nextSyncToken"]
    assert api.get(EVENTS, params={"syncToken": token}).json()["items"] == []
    api.patch(f"{EVENTS}/chg0000001", json={"summary": "moved"})
    api.delete(f"{EVENTS}/chg0000002")
    google_control.direct_edit(google_world.admin, "chg0000001", {"location": "3F"})
    api.post(EVENTS, json=event_body("chg0000003"))
    changes = api.get(EVENTS, params={"syncToken": token, "maxResults": 2}).json()
    assert [e["id"] for e in changes["items"]] == ["chg0000002", "chg0000001"]
    assert changes["items"][0]["status"] == "cancelled"
    assert changes["items"][1]["location"] == "3F"
    rest = api.get(EVENTS, params={"pageToken": changes["nextPageToken"]}).json()
    assert [e["id"] for e in rest["items"]] == ["chg0000003"]
    assert api.get(EVENTS, params={"syncToken": rest["nextSyncToken"]}).json()["items"] == []


def test_invalid_sync_token_is_410_full_sync_required(
    api: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    garbage = api.get(EVENTS, params={"syncToken": "not-a-token"})
    assert garbage.status_code == 410
    assert reason(garbage) == "fullSyncRequired"
    assert garbage.json()["error"]["errors"][0]["domain"] == "calendar"
    token = api.get(EVENTS).json()["nextSyncToken"]
    google_control.invalidate_sync_tokens(google_world.admin)
    assert api.get(EVENTS, params={"syncToken": token}).status_code == 410
    other_calendar_token = api.get(EVENTS).json()["nextSyncToken"]
    assert google_control.mint_token(google_world.member, google_world.client_id)
    assert api.get(EVENTS, params={"syncToken": other_calendar_token}).status_code == 200


# ----- direct edits ----------------------------------------------------------------------------


def test_direct_edit_and_delete_look_like_user_changes(
    api: httpx.Client, google_control: GoogleControl, google_world: SeededWorld
) -> None:
    event = api.post(EVENTS, json=event_body("direct0001")).json()
    edited = google_control.direct_edit(
        google_world.admin, "direct0001", {"start": {"dateTime": "2030-01-07T08:00:00+09:00"}}
    )
    assert edited["etag"] != event["etag"]
    assert edited["sequence"] == 1
    assert api.patch(f"{EVENTS}/direct0001", json={}, headers={"If-Match": event["etag"]}).status_code == 412
    google_control.direct_delete(google_world.admin, "direct0001")
    stored = google_control.events(google_world.admin)
    assert stored[0]["status"] == "cancelled"
    with pytest.raises(httpx.HTTPStatusError):
        google_control.direct_delete(google_world.admin, "direct0001")


# ----- free/busy -------------------------------------------------------------------------------


FB = "/calendar/v3/freeBusy"
DAY = {"timeMin": "2030-01-07T00:00:00Z", "timeMax": "2030-01-08T00:00:00Z"}


def test_freebusy_user_room_unknown_and_clipping(
    api: httpx.Client, google_api: ApiFactory, google_world: SeededWorld
) -> None:
    room = google_world.room_email(0)
    api.post(
        EVENTS,
        json=event_body(
            "fb00000001", start="10:00", end="11:00", attendees=[{"email": room, "resource": True}]
        ),
    )
    api.post(EVENTS, json=event_body("fb00000002", start="10:30", end="12:00"))
    api.post(EVENTS, json=event_body("fb00000003", start="13:00", end="14:00", transparency="transparent"))
    api.post(EVENTS, json=event_body("fb00000004", start="15:00", end="16:00"))
    api.delete(f"{EVENTS}/fb00000004")
    api.post(
        EVENTS,
        json={"start": {"dateTime": "2030-01-06T23:00:00Z"}, "end": {"dateTime": "2030-01-07T00:30:00Z"}},
    )
    google_api(google_world.member).post(EVENTS, json=event_body(start="17:00", end="18:00"))
    items = [
        {"id": "primary"},
        {"id": room},
        {"id": google_world.member},
        {"id": google_world.personal},
        {"id": "nobody@nowhere.test"},
    ]
    response = api.post(FB, json={**DAY, "items": items})
    assert response.status_code == 200
    calendars = response.json()["calendars"]
    assert calendars["primary"]["busy"] == [
        {"start": "2030-01-07T00:00:00Z", "end": "2030-01-07T00:30:00Z"},
        {"start": "2030-01-07T01:00:00Z", "end": "2030-01-07T03:00:00Z"},
    ]
    assert calendars[room]["busy"] == [{"start": "2030-01-07T01:00:00Z", "end": "2030-01-07T02:00:00Z"}]
    assert calendars[google_world.member]["busy"] == [
        {"start": "2030-01-07T08:00:00Z", "end": "2030-01-07T09:00:00Z"}
    ]
    for hidden in (google_world.personal, "nobody@nowhere.test"):
        assert calendars[hidden]["errors"] == [{"domain": "global", "reason": "notFound"}]


def test_freebusy_too_many_calendars(api: httpx.Client) -> None:
    items = [{"id": f"user{i}@example.com"} for i in range(51)]
    calendars = api.post(FB, json={**DAY, "items": items}).json()["calendars"]
    assert calendars["user0@example.com"]["errors"][0]["reason"] == "tooManyCalendarsRequested"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"timeMax": DAY["timeMax"], "items": []}, "required"),
        ({"timeMin": DAY["timeMin"], "items": []}, "required"),
        ({"timeMin": DAY["timeMax"], "timeMax": DAY["timeMin"], "items": []}, "timeRangeEmpty"),
        (
            {"timeMin": "2030-01-01T00:00:00Z", "timeMax": "2030-06-01T00:00:00Z", "items": []},
            "timeRangeTooLong",
        ),
        ({**DAY, "items": "primary"}, "invalid"),
        ({**DAY, "items": [{"name": "x"}]}, "invalid"),
    ],
)
def test_freebusy_errors(api: httpx.Client, body: dict[str, Any], expected: str) -> None:
    response = api.post(FB, json=body)
    assert response.status_code == 400
    assert reason(response) == expected


# ----- push channels ---------------------------------------------------------------------------


def test_watch_sends_sync_then_exists_notifications(
    api: httpx.Client, google_control: GoogleControl, google_world: SeededWorld, push_receiver: PushReceiver
) -> None:
    body = {"id": "channel-1", "type": "web_hook", "address": push_receiver.url, "token": "secret-ish"}
    channel = api.post(f"{EVENTS}/watch", json=body)
    assert channel.status_code == 200
    info = channel.json()
    assert info["kind"] == "api#channel"
    assert info["resourceId"]
    assert info["resourceUri"].endswith(f"/calendar/v3/calendars/{google_world.admin}/events?alt=json")
    assert int(info["expiration"]) > 0
    api.post(EVENTS, json=event_body("push000001"))
    google_control.direct_edit(google_world.admin, "push000001", {"summary": "edited in Google"})
    received = push_receiver.wait_for(3)
    assert [h["X-Goog-Resource-State"] for h in received] == ["sync", "exists", "exists"]
    assert [h["X-Goog-Message-Number"] for h in received] == ["1", "2", "3"]
    first = received[0]
    assert first["X-Goog-Channel-ID"] == "channel-1"
    assert first["X-Goog-Channel-Token"] == "secret-ish"
    assert first["X-Goog-Resource-ID"] == info["resourceId"]
    assert first["X-Goog-Resource-URI"] == info["resourceUri"]
    assert first["X-Goog-Channel-Expiration"].endswith("GMT")
    stop = api.post("/calendar/v3/channels/stop", json={"id": "channel-1", "resourceId": info["resourceId"]})
    assert stop.status_code == 204
    api.post(EVENTS, json=event_body("push000002"))
    assert reason(api.post("/calendar/v3/channels/stop", json={"id": "channel-1"})) == "notFound"
    assert len(push_receiver.wait_for(4, timeout=0.3)) == 3


def test_expired_channel_stops_notifying(
    api: httpx.Client, google_control: GoogleControl, push_receiver: PushReceiver
) -> None:
    body = {"id": "channel-2", "type": "web_hook", "address": push_receiver.url, "expiration": "1"}
    assert api.post(f"{EVENTS}/watch", json=body).status_code == 200
    api.post(EVENTS, json=event_body("push000003"))
    assert len(push_receiver.wait_for(2, timeout=0.3)) == 1


def test_unreachable_push_address_is_ignored(api: httpx.Client, google_control: GoogleControl) -> None:
    body = {"id": "channel-3", "type": "web_hook", "address": "http://127.0.0.1:9/unreachable"}
    assert api.post(f"{EVENTS}/watch", json=body).status_code == 200
    assert api.post(EVENTS, json=event_body("push000004")).status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"type": "web_hook", "address": "https://example.test/hook"}, "required"),
        ({"id": "c", "type": "email", "address": "https://example.test/hook"}, "invalid"),
        ({"id": "c", "type": "web_hook", "address": "ftp://example.test"}, "invalid"),
    ],
)
def test_watch_errors(api: httpx.Client, body: dict[str, Any], expected: str) -> None:
    response = api.post(f"{EVENTS}/watch", json=body)
    assert response.status_code == 400
    assert reason(response) == expected


def test_watch_duplicate_channel_id(api: httpx.Client) -> None:
    body = {"id": "same", "type": "web_hook", "address": "http://127.0.0.1:9/x"}
    api.post(f"{EVENTS}/watch", json=body)
    assert reason(api.post(f"{EVENTS}/watch", json=body)) == "channelIdNotUnique"


# ----- auth, scopes, faults, counters ---------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ya29.unknown", "Basic abc"])
def test_bad_credentials_are_401_auth_error(
    google_http: httpx.Client, google_world: SeededWorld, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    for response in (
        google_http.get(EVENTS, headers=headers),
        google_http.post(FB, json={**DAY, "items": []}, headers=headers),
        google_http.post("/calendar/v3/channels/stop", json={"id": "x"}, headers=headers),
    ):
        assert response.status_code == 401
        detail = response.json()["error"]["errors"][0]
        assert detail == {
            "domain": "global",
            "reason": "authError",
            "message": "Invalid Credentials",
            "locationType": "header",
            "location": "Authorization",
        }
        assert "WWW-Authenticate" in response.headers


def test_missing_calendar_scope_is_403(google_api: ApiFactory) -> None:
    client = google_api(scopes=["openid", "email"])
    response = client.get(EVENTS)
    assert response.status_code == 403
    assert reason(response) == "insufficientPermissions"


@pytest.mark.parametrize(
    ("fault", "status", "expected_reason", "domain"),
    [
        ({"status": 429, "retry_after": 7}, 429, "rateLimitExceeded", "usageLimits"),
        (
            {"status": 403, "reason": "userRateLimitExceeded", "retry_after": 2},
            403,
            "userRateLimitExceeded",
            "usageLimits",
        ),
        ({"status": 401}, 401, "authError", "global"),
        ({"status": 500}, 500, "backendError", "global"),
        ({"status": 503}, 503, "backendError", "global"),
    ],
)
def test_injected_faults_have_google_error_shape(
    api: httpx.Client,
    google_control: GoogleControl,
    fault: dict[str, Any],
    status: int,
    expected_reason: str,
    domain: str,
) -> None:
    google_control.add_fault(r"/calendar/v3/calendars/[^/]+/events$", method="POST", count=1, **fault)
    failed = api.post(EVENTS, json=event_body("fault00001"))
    assert failed.status_code == status
    assert reason(failed) == expected_reason
    assert failed.json()["error"]["errors"][0]["domain"] == domain
    if "retry_after" in fault:
        assert failed.headers["Retry-After"] == str(fault["retry_after"])
    assert api.post(EVENTS, json=event_body("fault00001")).status_code == 200
    assert google_control.events("alice@example.com")[0]["id"] == "fault00001"


def test_oauth_fault_has_oauth_shape(google_http: httpx.Client, google_control: GoogleControl) -> None:
    google_control.add_fault("^/token$", status=503, count=1)
    response = google_http.post("/token", data={"grant_type": "refresh_token"})
    assert response.status_code == 503
    assert response.json()["error"] == "server_error"


def test_request_counters(api: httpx.Client, google_control: GoogleControl) -> None:
    api.get(EVENTS)
    api.get(EVENTS)
    counts = google_control.requests()
    assert counts[f"GET {EVENTS}"] == 2
    assert google_control.state()["requests"][f"GET {EVENTS}"] == 2


def test_unknown_route_and_method_are_google_errors(api: httpx.Client) -> None:
    missing = api.get("/calendar/v3/nothing")
    assert missing.status_code == 404
    assert reason(missing) == "notFound"
    wrong = api.delete(EVENTS)
    assert wrong.status_code == 405
    assert reason(wrong) == "httpMethodNotAllowed"
