"""Graph v1.0: calendarView delta, getSchedule, places (room lists and rooms)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from provider_emulators.microsoft.testing import MS_PLACES_SCOPES, MicrosoftControl, MsWorld

GraphFactory = Callable[..., httpx.Client]
WINDOW = {"startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2030-02-01T00:00:00Z"}


def event_body(subject: str, day: int = 7, hour: int = 10, hours: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": f"2030-01-{day:02d}T{hour:02d}:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"2030-01-{day:02d}T{hour + hours:02d}:00:00", "timeZone": "UTC"},
        **extra,
    }


def graph_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def full_delta(
    graph: httpx.Client, first: str, params: dict[str, str] | None = None, page_size: int = 2
) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink; returns (items, deltaLink, pages)."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"}
    body = graph.get(first, params=params, headers=headers).json()
    items, pages = list(body["value"]), 1
    while "@odata.nextLink" in body:
        assert "@odata.deltaLink" not in body
        body = graph.get(body["@odata.nextLink"], headers=headers).json()
        items += body["value"]
        pages += 1
    return items, body["@odata.deltaLink"], pages


# --- delta -----------------------------------------------------------------------------------------------


def test_delta_initial_round_pages_then_delta_link(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    for i in range(5):
        graph.post("/me/events", json=event_body(f"E{i}", day=7 + i))
    graph.post(
        "/me/events",
        json=event_body("Outside", day=7)
        | {
            "start": {"dateTime": "2031-01-01T00:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2031-01-01T01:00:00", "timeZone": "UTC"},
        },
    )
    items, delta_link, pages = full_delta(graph, "/me/calendarView/delta", WINDOW)
    assert [e["subject"] for e in items] == ["E0", "E1", "E2", "E3", "E4"]
    assert pages == 3
    assert "$deltatoken=" in delta_link
    empty = graph.get(delta_link).json()
    assert empty["value"] == []
    assert "$deltatoken=" in empty["@odata.deltaLink"]


def test_skiptoken_links_carry_the_paging(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    for i in range(3):
        graph.post("/me/events", json=event_body(f"E{i}", day=7 + i))
    first = graph.get(
        "/me/calendarView/delta", params=WINDOW, headers={"Prefer": "odata.maxpagesize=2"}
    ).json()
    assert "$skiptoken=" in first["@odata.nextLink"]
    # a retried page returns the same items
    assert (
        graph.get(first["@odata.nextLink"]).json()["value"]
        == graph.get(first["@odata.nextLink"]).json()["value"]
    )


def test_delta_reports_changes_and_removals(
    ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    graph = ms_graph()
    keep = graph.post("/me/events", json=event_body("Keep")).json()
    edit = graph.post("/me/events", json=event_body("Edit me", day=8)).json()
    gone = graph.post("/me/events", json=event_body("Delete me", day=9)).json()
    outlook = graph.post("/me/events", json=event_body("Outlook edit", day=10)).json()
    _, delta_link, _ = full_delta(graph, "/me/calendarView/delta", WINDOW)

    graph.patch(f"/me/events/{edit['id']}", json={"subject": "Edited"})
    graph.delete(f"/me/events/{gone['id']}")
    ms_control.edit_event(ms_world.host, outlook["id"], {"subject": "Changed in Outlook"})
    new = graph.post("/me/events", json=event_body("New", day=11)).json()

    items, next_link, _ = full_delta(graph, delta_link)
    by_id = {e["id"]: e for e in items}
    assert keep["id"] not in by_id
    assert by_id[edit["id"]]["subject"] == "Edited"
    assert by_id[gone["id"]] == {
        "@odata.type": "#microsoft.graph.event",
        "id": gone["id"],
        "@removed": {"reason": "deleted"},
    }
    assert by_id[outlook["id"]]["subject"] == "Changed in Outlook"
    assert by_id[outlook["id"]]["changeKey"] != outlook["changeKey"]
    assert by_id[new["id"]]["subject"] == "New"

    ms_control.delete_event(ms_world.host, keep["id"])
    moved_out = graph.patch(
        f"/me/events/{new['id']}",
        json={
            "start": {"dateTime": "2031-01-01T00:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2031-01-01T01:00:00", "timeZone": "UTC"},
        },
    )
    assert moved_out.status_code == 200
    last, _, _ = full_delta(graph, next_link)
    assert {e["id"] for e in last} == {keep["id"], new["id"]}
    assert all(e["@removed"] == {"reason": "deleted"} for e in last)

    # the old delta link still works and still sees everything since then
    replay, _, _ = full_delta(graph, delta_link)
    assert {e["id"] for e in replay} >= {edit["id"], gone["id"], keep["id"]}


def test_delta_token_errors(ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl) -> None:
    graph = ms_graph()
    graph_error(
        graph.get("/me/calendarView/delta", params={"$deltatoken": "bogus"}), 410, "syncStateNotFound"
    )
    graph_error(graph.get("/me/calendarView/delta", params={"$skiptoken": "bogus"}), 410, "syncStateNotFound")
    graph_error(graph.get("/me/calendarView/delta"), 400, "ErrorInvalidParameter")
    _, delta_link, _ = full_delta(graph, "/me/calendarView/delta", WINDOW)
    # another mailbox cannot use the token
    graph_error(ms_graph(ms_world.colleague).get(delta_link), 410, "syncStateNotFound")
    assert ms_control.invalidate_delta(ms_world.host) >= 1
    graph_error(graph.get(delta_link), 410, "resyncRequired")
    # a fresh full sync works again
    assert graph.get("/me/calendarView/delta", params=WINDOW).status_code == 200


# --- getSchedule --------------------------------------------------------------------------------------


def schedule_request(
    schedules: list[str], start: str = "2030-01-07T09:00:00", end: str = "2030-01-07T12:00:00", **extra: Any
) -> dict[str, Any]:
    return {
        "schedules": schedules,
        "startTime": {"dateTime": start, "timeZone": "UTC"},
        "endTime": {"dateTime": end, "timeZone": "UTC"},
        **extra,
    }


def test_get_schedule(ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl) -> None:
    ms_control.create_event(ms_world.colleague, event_body("Busy", hour=10))
    ms_control.create_event(ms_world.colleague, {**event_body("Maybe", hour=11), "showAs": "tentative"})
    ms_control.create_event(ms_world.rooms[0], {**event_body("Away", hour=9), "showAs": "oof"})
    graph = ms_graph()
    body = graph.post(
        "/me/calendar/getSchedule",
        json=schedule_request(
            [ms_world.colleague, ms_world.rooms[0], "ghost@contoso.example"], availabilityViewInterval=60
        ),
    ).json()
    colleague, room, ghost = body["value"]
    assert colleague["scheduleId"] == ms_world.colleague
    assert colleague["availabilityView"] == "021"
    assert [i["status"] for i in colleague["scheduleItems"]] == ["busy", "tentative"]
    assert colleague["scheduleItems"][0]["start"] == {
        "dateTime": "2030-01-07T10:00:00.0000000",
        "timeZone": "UTC",
    }
    assert colleague["workingHours"]["daysOfWeek"][0] == "monday"
    assert room["availabilityView"] == "300"
    assert ghost["error"]["responseCode"] == "ErrorMailRecipientNotFound"

    default = graph.post("/me/calendar/getSchedule", json=schedule_request([ms_world.colleague])).json()
    assert default["value"][0]["availabilityView"] == "002211"  # 30-minute slots by default
    tokyo = graph.post(
        "/me/calendar/getSchedule",
        json=schedule_request([ms_world.colleague]),
        headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'},
    ).json()
    assert tokyo["value"][0]["scheduleItems"][0]["start"]["dateTime"] == "2030-01-07T19:00:00.0000000"


def test_get_schedule_ignores_cancelled_and_deleted(
    ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    ev = ms_control.create_event(ms_world.colleague, event_body("Busy", hour=10))
    ms_control.create_event(ms_world.colleague, {**event_body("Cancelled", hour=9), "isCancelled": True})
    graph = ms_graph()
    assert (
        graph.post(
            "/me/calendar/getSchedule",
            json=schedule_request([ms_world.colleague], availabilityViewInterval=60),
        ).json()["value"][0]["availabilityView"]
        == "020"
    )
    ms_control.delete_event(ms_world.colleague, ev["id"])
    assert (
        graph.post(
            "/me/calendar/getSchedule",
            json=schedule_request([ms_world.colleague], availabilityViewInterval=60),
        ).json()["value"][0]["availabilityView"]
        == "000"
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (schedule_request([f"user{i}@contoso.example" for i in range(21)]), "ErrorInvalidParameter"),
        (schedule_request([]), "ErrorInvalidParameter"),
        ({"startTime": {"dateTime": "2030-01-07T09:00:00", "timeZone": "UTC"}}, "ErrorInvalidParameter"),
        (schedule_request(["a@contoso.example"], end="2030-03-10T09:00:00"), "ErrorTimeIntervalTooBig"),
        (schedule_request(["a@contoso.example"], end="2030-01-07T08:00:00"), "ErrorInvalidParameter"),
        (schedule_request(["a@contoso.example"], availabilityViewInterval=4), "ErrorInvalidParameter"),
        (schedule_request(["a@contoso.example"], availabilityViewInterval=1441), "ErrorInvalidParameter"),
        (schedule_request(["a@contoso.example"], availabilityViewInterval="30"), "ErrorInvalidParameter"),
        (
            {
                **schedule_request(["a@contoso.example"]),
                "endTime": {"dateTime": "2030-01-07T12:00:00", "timeZone": "Mars"},
            },
            "TimeZoneNotSupportedException",
        ),
        ({**schedule_request(["a@contoso.example"]), "endTime": "noon"}, "ErrorInvalidParameter"),
    ],
)
def test_get_schedule_validation(ms_graph: GraphFactory, body: dict[str, Any], code: str) -> None:
    graph_error(ms_graph().post("/me/calendar/getSchedule", json=body), 400, code)


def test_get_schedule_limits_are_inclusive(ms_graph: GraphFactory) -> None:
    graph = ms_graph()
    twenty = schedule_request([f"user{i}@contoso.example" for i in range(20)], availabilityViewInterval=1440)
    assert graph.post("/me/calendar/getSchedule", json=twenty).status_code == 200
    almost = schedule_request(
        ["a@contoso.example"],
        start="2030-01-01T00:00:00",
        end="2030-03-03T23:00:00",
        availabilityViewInterval=5,
    )
    assert graph.post("/me/calendar/getSchedule", json=almost).status_code == 200


# --- places --------------------------------------------------------------------------------------------


@pytest.fixture
def places_graph(ms_graph: GraphFactory, ms_world: MsWorld, ms_control: MicrosoftControl) -> httpx.Client:
    ms_control.grant_admin_consent(ms_world.contoso_id, ms_world.client_id, ["Place.Read.All"])
    return ms_graph(scope=MS_PLACES_SCOPES)


def test_room_lists_and_rooms(places_graph: httpx.Client, ms_world: MsWorld) -> None:
    lists = places_graph.get("/places/microsoft.graph.roomlist").json()["value"]
    assert [(rl["emailAddress"], rl["displayName"]) for rl in lists] == [(ms_world.room_list, "Tokyo HQ")]
    rooms = places_graph.get(f"/places/{ms_world.room_list}/microsoft.graph.roomlist/rooms").json()
    assert [r["emailAddress"] for r in rooms["value"]] == ms_world.rooms
    first = rooms["value"][0]
    assert first["displayName"] == "Room 1" and first["capacity"] == 4
    assert first["building"] == "HQ" and first["floorNumber"] == 1 and first["floorLabel"] == "1F"
    assert first["bookingType"] == "standard" and first["tags"] == ["visitors"]
    assert first["isWheelChairAccessible"] is False and rooms["value"][1]["isWheelChairAccessible"] is True
    assert first["id"]
    every = places_graph.get("/places/microsoft.graph.room").json()["value"]
    assert len(every) == 3


def test_rooms_paging(places_graph: httpx.Client, ms_world: MsWorld) -> None:
    path = f"/places/{ms_world.room_list}/microsoft.graph.roomlist/rooms"
    first = places_graph.get(path, params={"$top": "2"}).json()
    assert len(first["value"]) == 2
    second = places_graph.get(first["@odata.nextLink"]).json()
    assert [r["emailAddress"] for r in second["value"]] == [ms_world.rooms[2]]
    assert "@odata.nextLink" not in second
    skipped = places_graph.get(path, params={"$skip": "1"}).json()["value"]
    assert [r["emailAddress"] for r in skipped] == ms_world.rooms[1:]


def test_places_errors(
    ms_graph: GraphFactory, places_graph: httpx.Client, ms_world: MsWorld, ms_control: MicrosoftControl
) -> None:
    graph_error(
        places_graph.get("/places/nowhere@contoso.example/microsoft.graph.roomlist/rooms"),
        404,
        "ErrorItemNotFound",
    )
    # a token without Place.Read.All
    graph_error(ms_graph().get("/places/microsoft.graph.roomlist"), 403, "ErrorAccessDenied")
    # the administrator withdraws the tenant's consent
    ms_control.revoke_admin_consent(ms_world.contoso_id, ms_world.client_id)
    graph_error(places_graph.get("/places/microsoft.graph.roomlist"), 403, "ErrorAccessDenied")
    graph_error(
        places_graph.get(f"/places/{ms_world.room_list}/microsoft.graph.roomlist/rooms"),
        403,
        "ErrorAccessDenied",
    )
    graph_error(places_graph.get("/places/microsoft.graph.room"), 403, "ErrorAccessDenied")


def test_places_are_per_tenant(
    ms_http: httpx.Client, ms_control: MicrosoftControl, ms_world: MsWorld
) -> None:
    from provider_emulators.microsoft.testing import obtain_tokens

    ms_control.grant_admin_consent(
        ms_world.fabrikam_id, ms_world.client_id, ["Calendars.ReadWrite", "Place.Read.All"]
    )
    tokens = obtain_tokens(ms_http, ms_world, ms_world.fabrikam_user, scope=MS_PLACES_SCOPES)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert ms_http.get("/v1.0/places/microsoft.graph.roomlist", headers=headers).json()["value"] == []
    other = ms_http.get(f"/v1.0/places/{ms_world.room_list}/microsoft.graph.roomlist/rooms", headers=headers)
    graph_error(other, 404, "ErrorItemNotFound")
