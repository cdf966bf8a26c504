"""Graph v1.0: authentication, /me, events CRUD, transactionId, extended properties, rooms, calendarView."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from provider_emulators.microsoft.testing import MicrosoftControl, MsWorld

GraphFactory = Callable[..., httpx.Client]
PROP_ID = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name AppointmentId"


def event_body(
    subject: str = "Visit", start: str = "2030-01-07T10:00:00", end: str = "2030-01-07T11:00:00", **extra: Any
) -> dict[str, Any]:
    return {
        "subject": subject,
        "body": {"contentType": "html", "content": "<p>Welcome <b>guest</b></p>"},
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
        **extra,
    }


def graph_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert {"request-id", "date"} <= error["innerError"].keys()
    return error


# --- authentication ---------------------------------------------------------------------------------


def test_me(ms_graph: GraphFactory, ms_world: MsWorld) -> None:
    me = ms_graph().get("/me").json()
    assert me["mail"] == me["userPrincipalName"] == ms_world.host
    assert me["displayName"] == "Hana Host"
    assert me["id"]


def test_missing_and_bad_tokens_are_401(ms_http: httpx.Client, ms_world: MsWorld) -> None:
    missing = ms_http.get("/v1.0/me")
    error = graph_error(missing, 401, "InvalidAuthenticationToken")
    assert error["message"] == "Access token is empty."
    assert missing.headers["www-authenticate"].startswith("Bearer")
    graph_error(
        ms_http.get("/v1.0/me", headers={"Authorization": "Bearer not-a-jwt"}),
        401,
        "InvalidAuthenticationToken",
    )
    graph_error(
        ms_http.get("/v1.0/me/events", headers={"Authorization": "Bearer a.b.c"}),
        401,
        "InvalidAuthenticationToken",
    )
    graph_error(
        ms_http.get("/v1.0/me", headers={"Authorization": "Basic abc"}), 401, "InvalidAuthenticationToken"
    )


def test_expired_token_is_401(
    ms_graph: GraphFactory, ms_control: MicrosoftControl, ms_world: MsWorld
) -> None:
    graph = ms_graph()
    assert graph.get("/me").status_code == 200
    assert ms_control.expire_access_tokens(user=ms_world.host) == 1
    error = graph_error(graph.get("/me/events"), 401, "InvalidAuthenticationToken")
    assert "expired" in error["message"]


def test_short_token_lifetime(ms_graph: GraphFactory, ms_control: MicrosoftControl) -> None:
    ms_control.settings(access_token_lifetime_s=0)
    graph_error(ms_graph().get("/me"), 401, "InvalidAuthenticationToken")


def test_missing_calendar_permission_is_403(ms_graph: GraphFactory) -> None:
    graph = ms_graph(scope="openid offline_access User.Read")
    assert graph.get("/me").status_code == 200
    graph_error(graph.get("/me/events"), 403, "ErrorAccessDenied")
    read_only = ms_graph(scope="openid offline_access Calendars.Read")
    assert read_only.get("/me/events").status_code == 200
    graph_error(read_only.post("/me/events", json=event_body()), 403, "ErrorAccessDenied")


def test_unknown_graph_path(ms_graph: GraphFactory) -> None:
    graph_error(ms_graph().get("/me/nothing-here"), 400, "BadRequest")


# --- events --------------------------------------------------------------------------------------------


def test_create_get_patch_delete(ms_graph: GraphFactory, ms_world: MsWorld) -> None:
    graph = ms_graph()
    created = graph.post("/me/events", json=event_body(location={"displayName": "Lobby"}))
    assert created.status_code == 201
    ev = created.json()
    assert ev["subject"] == "Visit"
    assert ev["start"] == {"dateTime": "2030-01-07T10:00:00.0000000", "timeZone": "UTC"}
    assert ev["location"]["displayName"] == "Lobby"
    assert ev["locations"][0]["displayName"] == "Lobby"
    assert ev["organizer"]["emailAddress"]["address"] == ms_world.host
    assert ev["isOrganizer"] is True and ev["isCancelled"] is False
    assert ev["showAs"] == "busy"
    assert ev["bodyPreview"] == "Welcome guest"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", ev["createdDateTime"])
    assert ev["iCalUId"] and ev["changeKey"] and ev["@odata.etag"] == f'W/"{ev["changeKey"]}"'

    fetched = graph.get(f"/me/events/{ev['id']}").json()
    assert fetched["changeKey"] == ev["changeKey"]

    patched = graph.patch(f"/me/events/{ev['id']}", json={"subject": "Visit (moved)", "showAs": "tentative"})
    assert patched.status_code == 200
    updated = patched.json()
    assert updated["subject"] == "Visit (moved)" and updated["showAs"] == "tentative"
    assert updated["changeKey"] != ev["changeKey"]
    assert updated["lastModifiedDateTime"] >= ev["lastModifiedDateTime"]
    assert updated["start"] == ev["start"]  # PATCH keeps what it does not name

    assert graph.delete(f"/me/events/{ev['id']}").status_code == 204
    graph_error(graph.get(f"/me/events/{ev['id']}"), 404, "ErrorItemNotFound")
    graph_error(graph.delete(f"/me/events/{ev['id']}"), 404, "ErrorItemNotFound")
    graph_error(graph.patch(f"/me/events/{ev['id']}", json={"subject": "x"}), 404, "ErrorItemNotFound")


def test_events_are_per_mailbox(ms_graph: GraphFactory, ms_world: MsWorld) -> None:
    ev = ms_graph().post("/me/events", json=event_body()).json()
    graph_error(ms_graph(ms_world.colleague).get(f"/me/events/{ev['id']}"), 404, "ErrorItemNotFound")


def test_transaction_id_deduplicates_retried_posts(
    ms_graph: GraphFactory, ms_control: MicrosoftControl, ms_world: MsWorld
) -> None:
    graph = ms_graph()
    body = event_body(transactionId="appt-42-v1")
    first = graph.post("/me/events", json=body)
    retry = graph.post("/me/events", json=body)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["transactionId"] == "appt-42-v1"
    assert len(graph.get("/me/events").json()["value"]) == 1
    other = graph.post("/me/events", json=event_body(transactionId="appt-43-v1"))
    assert other.json()["id"] != first.json()["id"]
    immutable = graph.patch(f"/me/events/{first.json()['id']}", json={"transactionId": "changed"})
    graph_error(immutable, 400, "ErrorInvalidRequest")
    same = graph.patch(
        f"/me/events/{first.json()['id']}", json={"transactionId": "appt-42-v1", "subject": "s"}
    )
    assert same.status_code == 200
    assert len(ms_control.mailbox_events(ms_world.host)) == 2


JUNK: list[Any] = [None, 0, -1, 1.5, True, "", "x", [], [1], {}, {"a": 1}, [{"dateTime": 5}]]
FIELDS = [
    "subject", "body", "start", "end", "location", "locations", "attendees", "showAs", "isAllDay",
    "sensitivity", "importance", "categories", "reminderMinutesBeforeStart", "transactionId",
    "singleValueExtendedProperties", "recurrence", "isCancelled",
]  # fmt: skip


def test_no_input_causes_a_server_error(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    ev = graph.post("/me/events", json=event_body()).json()
    for name in FIELDS:
        for value in JUNK:
            created = graph.post("/me/events", json={**event_body(), name: value})
            patched = graph.patch(f"/me/events/{ev['id']}", json={name: value})
            assert created.status_code < 500, (name, value, created.text)
            assert patched.status_code < 500, (name, value, patched.text)
    for value in JUNK:
        assert graph.post("/me/calendar/getSchedule", json={"schedules": value}).status_code == 400
        assert graph.post("/subscriptions", json={"changeType": value}).status_code == 400
    assert graph.get(f"/me/events/{ev['id']}").status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"subject": "no times"}, "ErrorInvalidRequest"),
        (event_body(start="2030-01-07T12:00:00"), "ErrorInvalidRequest"),
        (event_body(colour="red"), "RequestBodyRead"),
        (event_body(showAs="maybe"), "RequestBodyRead"),
        (
            {**event_body(), "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "Mars/Olympus"}},
            "TimeZoneNotSupportedException",
        ),
        ({**event_body(), "start": {"dateTime": "soon", "timeZone": "UTC"}}, "RequestBodyRead"),
        ({**event_body(), "start": "2030-01-07T10:00:00Z"}, "RequestBodyRead"),
        (event_body(attendees=[{"emailAddress": {"address": "not-an-address"}}]), "ErrorInvalidRecipients"),
        (
            event_body(attendees=[{"emailAddress": {"address": "a@b.example"}, "type": "vip"}]),
            "RequestBodyRead",
        ),
        (event_body(attendees="a@b.example"), "RequestBodyRead"),
        (event_body(singleValueExtendedProperties=[{"id": PROP_ID}]), "RequestBodyRead"),
        ({**event_body(), "subject": 42}, "RequestBodyRead"),
        (event_body(locations=5), "RequestBodyRead"),
        (event_body(locations=["Lobby"]), "RequestBodyRead"),
        (event_body(body="plain text"), "RequestBodyRead"),
        (event_body(importance="urgent"), "RequestBodyRead"),
        (event_body(categories=[1]), "RequestBodyRead"),
    ],
)
def test_invalid_event_bodies(ms_graph: GraphFactory, body: dict[str, Any], code: str) -> None:
    graph_error(ms_graph().post("/me/events", json=body), 400, code)


def test_malformed_json(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    graph_error(
        graph.post("/me/events", content=b"{nope", headers={"Content-Type": "application/json"}),
        400,
        "BadRequest",
    )
    graph_error(graph.post("/me/events", json=[1, 2]), 400, "BadRequest")
    ev = graph.post("/me/events", json=event_body()).json()
    graph_error(
        graph.patch(
            f"/me/events/{ev['id']}", json={"end": {"dateTime": "2030-01-01T00:00:00", "timeZone": "UTC"}}
        ),
        400,
        "ErrorInvalidRequest",
    )
    assert graph.get(f"/me/events/{ev['id']}").json()["end"]["dateTime"].startswith("2030-01-07T11:00")


def test_time_zones(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    body = {
        **event_body(),
        "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "Tokyo Standard Time"},
        "end": {"dateTime": "2030-01-07T11:00:00", "timeZone": "Tokyo Standard Time"},
    }
    created = graph.post("/me/events", json=body).json()
    assert created["start"] == {"dateTime": "2030-01-07T10:00:00.0000000", "timeZone": "Tokyo Standard Time"}
    assert created["originalStartTimeZone"] == "Tokyo Standard Time"
    plain = graph.get(f"/me/events/{created['id']}").json()
    assert plain["start"] == {"dateTime": "2030-01-07T01:00:00.0000000", "timeZone": "UTC"}
    preferred = graph.get(f"/me/events/{created['id']}", headers={"Prefer": 'outlook.timezone="Asia/Tokyo"'})
    assert preferred.json()["start"]["dateTime"] == "2030-01-07T10:00:00.0000000"
    assert preferred.headers["preference-applied"] == 'outlook.timezone="Asia/Tokyo"'
    bad = graph.get("/me/events", headers={"Prefer": 'outlook.timezone="Nowhere/Land"'})
    graph_error(bad, 400, "TimeZoneNotSupportedException")


def test_list_paging_select_and_filter(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    for i in range(5):
        props = [{"id": PROP_ID, "value": f"appt-{i}"}]
        graph.post("/me/events", json=event_body(f"Visit {i}", singleValueExtendedProperties=props))
    first = graph.get("/me/events", params={"$top": "2"}).json()
    assert [e["subject"] for e in first["value"]] == ["Visit 0", "Visit 1"]
    second = graph.get(first["@odata.nextLink"]).json()
    assert [e["subject"] for e in second["value"]] == ["Visit 2", "Visit 3"]
    last = graph.get(second["@odata.nextLink"]).json()
    assert [e["subject"] for e in last["value"]] == ["Visit 4"]
    assert "@odata.nextLink" not in last

    selected = graph.get("/me/events", params={"$select": "subject"}).json()["value"][0]
    assert set(selected) == {"@odata.etag", "id", "subject"}

    found = graph.get(
        "/me/events",
        params={
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP_ID}' and ep/value eq 'appt-3')"
        },
    ).json()["value"]
    assert [e["subject"] for e in found] == ["Visit 3"]
    by_subject = graph.get("/me/events", params={"$filter": "subject eq 'Visit 1'"}).json()["value"]
    assert len(by_subject) == 1
    graph_error(graph.get("/me/events", params={"$filter": "start/dateTime ge '2030'"}), 400, "BadRequest")
    graph_error(graph.get("/me/events", params={"$top": "0"}), 400, "BadRequest")
    graph_error(graph.get("/me/events", params={"$skip": "x"}), 400, "BadRequest")


def test_extended_properties_only_with_expand(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    other = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Other"
    props = [{"id": PROP_ID, "value": "appt-7"}, {"id": other, "value": "x"}]
    ev = graph.post("/me/events", json=event_body(singleValueExtendedProperties=props)).json()
    assert "singleValueExtendedProperties" not in ev
    assert "singleValueExtendedProperties" not in graph.get(f"/me/events/{ev['id']}").json()
    expand = f"singleValueExtendedProperties($filter=id eq '{PROP_ID}')"
    expanded = graph.get(f"/me/events/{ev['id']}", params={"$expand": expand}).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": PROP_ID, "value": "appt-7"}]
    both = graph.get(
        f"/me/events/{ev['id']}",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP_ID}' or id eq '{other}')"},
    ).json()
    assert len(both["singleValueExtendedProperties"]) == 2
    graph.patch(
        f"/me/events/{ev['id']}", json={"singleValueExtendedProperties": [{"id": PROP_ID, "value": "appt-8"}]}
    )
    again = graph.get(f"/me/events/{ev['id']}", params={"$expand": expand}).json()
    assert again["singleValueExtendedProperties"] == [{"id": PROP_ID, "value": "appt-8"}]
    graph_error(graph.get(f"/me/events/{ev['id']}", params={"$expand": "attachments"}), 400, "BadRequest")
    graph_error(
        graph.get(
            f"/me/events/{ev['id']}",
            params={"$expand": "singleValueExtendedProperties($filter=value eq 'x')"},
        ),
        400,
        "BadRequest",
    )


# --- attendees and rooms ------------------------------------------------------------------------------------


def attendee(address: str, kind: str = "required") -> dict[str, Any]:
    return {"emailAddress": {"address": address, "name": address.split("@")[0]}, "type": kind}


def test_room_accepts_when_free_and_declines_when_busy(
    ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    graph = ms_graph()
    room = ms_world.rooms[0]
    first = graph.post("/me/events", json=event_body("A", attendees=[attendee(room, "resource")])).json()
    status = first["attendees"][0]["status"]
    assert status["response"] == "accepted" and status["time"] != "0001-01-01T00:00:00Z"
    assert [e["subject"] for e in ms_control.mailbox_events(room)] == ["A"]

    overlapping = event_body(
        "B", start="2030-01-07T10:30:00", end="2030-01-07T11:30:00", attendees=[attendee(room, "resource")]
    )
    second = graph.post("/me/events", json=overlapping).json()
    assert second["attendees"][0]["status"]["response"] == "declined"
    assert len([e for e in ms_control.mailbox_events(room) if not e["deleted"]]) == 1

    # moving the declined meeting to a free slot makes the room accept it
    moved = graph.patch(
        f"/me/events/{second['id']}",
        json={
            "start": {"dateTime": "2030-01-07T12:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-07T13:00:00", "timeZone": "UTC"},
        },
    ).json()
    assert moved["attendees"][0]["status"]["response"] == "accepted"

    # deleting the first meeting frees the room; it leaves the room's calendar
    graph.delete(f"/me/events/{first['id']}")
    live = [e["subject"] for e in ms_control.mailbox_events(room) if not e["deleted"]]
    assert live == ["B"]
    third = graph.post("/me/events", json=event_body("C", attendees=[attendee(room, "resource")])).json()
    assert third["attendees"][0]["status"]["response"] == "accepted"


def test_room_busy_from_direct_booking_and_free_items(
    ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    room = ms_world.rooms[1]
    ms_control.create_event(room, event_body("Maintenance", showAs="free"))
    graph = ms_graph()
    free = graph.post("/me/events", json=event_body(attendees=[attendee(room, "resource")])).json()
    assert free["attendees"][0]["status"]["response"] == "accepted"
    ms_control.create_event(
        room, event_body("Blocked", start="2030-01-08T10:00:00", end="2030-01-08T11:00:00")
    )
    busy = graph.post(
        "/me/events",
        json=event_body(
            start="2030-01-08T10:15:00", end="2030-01-08T10:45:00", attendees=[attendee(room, "resource")]
        ),
    ).json()
    assert busy["attendees"][0]["status"]["response"] == "declined"


def test_people_get_a_copy_and_a_cancellation(
    ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    graph = ms_graph()
    external = attendee("guest@visitor.example")
    ev = graph.post("/me/events", json=event_body(attendees=[attendee(ms_world.colleague), external])).json()
    assert [a["status"]["response"] for a in ev["attendees"]] == ["none", "none"]
    copies = ms_control.mailbox_events(ms_world.colleague)
    assert len(copies) == 1
    copy = copies[0]
    assert copy["iCalUId"] == ev["iCalUId"] and copy["isOrganizer"] is False
    assert copy["showAs"] == "tentative"
    assert copy["organizer"]["emailAddress"]["address"] == ms_world.host
    colleague = ms_graph(ms_world.colleague)
    assert colleague.get(f"/me/events/{copy['id']}").json()["responseStatus"]["response"] == "notResponded"

    graph.patch(f"/me/events/{ev['id']}", json={"attendees": [external]})
    cancelled = ms_control.mailbox_events(ms_world.colleague)[0]
    assert cancelled["isCancelled"] is True and cancelled["subject"].startswith("Canceled:")


def test_delete_cancels_attendee_copies(
    ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    graph = ms_graph()
    ev = graph.post("/me/events", json=event_body(attendees=[attendee(ms_world.colleague)])).json()
    graph.delete(f"/me/events/{ev['id']}")
    assert ms_control.mailbox_events(ms_world.colleague)[0]["isCancelled"] is True
    owner = ms_control.mailbox_events(ms_world.host)[0]
    assert owner["deleted"] is True


def test_is_cancelled_is_read_only_for_graph_clients(
    ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    graph = ms_graph()
    ev = graph.post("/me/events", json=event_body(isCancelled=True)).json()
    assert ev["isCancelled"] is False
    assert graph.patch(f"/me/events/{ev['id']}", json={"isCancelled": True}).json()["isCancelled"] is False
    direct = ms_control.edit_event(ms_world.host, ev["id"], {"isCancelled": True})
    assert direct["isCancelled"] is True


# --- calendarView --------------------------------------------------------------------------------------


def test_calendar_view(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    for day in (6, 7, 8, 9):
        graph.post(
            "/me/events",
            json=event_body(f"Day {day}", start=f"2030-01-0{day}T10:00:00", end=f"2030-01-0{day}T11:00:00"),
        )
    window = {"startDateTime": "2030-01-07T00:00:00Z", "endDateTime": "2030-01-09T10:30:00Z"}
    view = graph.get("/me/calendarView", params=window).json()
    assert [e["subject"] for e in view["value"]] == ["Day 7", "Day 8", "Day 9"]
    paged = graph.get("/me/calendarView", params={**window, "$top": "2"}).json()
    assert len(paged["value"]) == 2
    rest = graph.get(paged["@odata.nextLink"]).json()
    assert [e["subject"] for e in rest["value"]] == ["Day 9"]
    offset = graph.get(
        "/me/calendarView",
        params={"startDateTime": "2030-01-07T19:00:00+09:00", "endDateTime": "2030-01-07T20:00:00+09:00"},
    )
    assert [e["subject"] for e in offset.json()["value"]] == ["Day 7"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"startDateTime": "2030-01-07T00:00:00Z"},
        {"startDateTime": "yesterday", "endDateTime": "2030-01-08T00:00:00Z"},
        {"startDateTime": "2030-01-08T00:00:00Z", "endDateTime": "2030-01-07T00:00:00Z"},
    ],
)
def test_calendar_view_needs_a_window(ms_graph: GraphFactory, params: dict[str, str]) -> None:
    graph_error(ms_graph().get("/me/calendarView", params=params), 400, "ErrorInvalidParameter")
