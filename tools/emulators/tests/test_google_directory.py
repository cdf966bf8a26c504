"""Admin SDK Directory: buildings and calendar resources, paging, permission errors."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from provider_emulators.google.testing import GoogleControl, SeededWorld

ApiFactory = Callable[..., httpx.Client]
BASE = "/admin/directory/v1/customer"


def reason(response: httpx.Response) -> str:
    return str(response.json()["error"]["errors"][0]["reason"])


@pytest.mark.parametrize("customer", ["my_customer", "C01"])
def test_list_buildings_and_rooms(google_api: ApiFactory, google_world: SeededWorld, customer: str) -> None:
    api = google_api()
    buildings = api.get(f"{BASE}/{customer}/resources/buildings").json()
    assert buildings["kind"] == "admin#directory#resources#buildings#buildingsList"
    assert [b["buildingId"] for b in buildings["buildings"]] == google_world.building_ids
    assert buildings["buildings"][0]["buildingName"] == "本社"
    assert buildings["buildings"][0]["floorNames"] == ["1", "2"]
    rooms = api.get(f"{BASE}/{customer}/resources/calendars").json()
    assert rooms["kind"] == "admin#directory#resources#calendars#calendarResourcesList"
    first = rooms["items"][0]
    assert first["kind"] == "admin#directory#resources#calendars#CalendarResource"
    assert first["resourceCategory"] == "CONFERENCE_ROOM"
    assert first["resourceEmail"].endswith("@resource.calendar.google.com")
    assert first["generatedResourceName"] == "本社-1-会議室A (6)"
    assert (first["capacity"], first["buildingId"], first["floorName"]) == (6, "hq", "1")
    assert "nextPageToken" not in rooms


def test_get_single_building_and_room(google_api: ApiFactory, google_world: SeededWorld) -> None:
    api = google_api()
    assert api.get(f"{BASE}/my_customer/resources/buildings/annex").json()["buildingName"] == "別館"
    room_id = google_world.rooms[2]["resourceId"]
    assert api.get(f"{BASE}/my_customer/resources/calendars/{room_id}").json()["resourceName"] == "応接室"
    for path in ("buildings/nope", "calendars/nope"):
        missing = api.get(f"{BASE}/my_customer/resources/{path}")
        assert missing.status_code == 404
        assert reason(missing) == "notFound"


def test_paging(google_api: ApiFactory, google_control: GoogleControl) -> None:
    for index in range(5):
        google_control.add_room(domain="example.com", resourceName=f"小部屋{index}", resourceCategory="OTHER")
    api = google_api()
    names: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"maxResults": 3, **({"pageToken": token} if token else {})}
        body = api.get(f"{BASE}/my_customer/resources/calendars", params=params).json()
        names += [item["resourceName"] for item in body["items"]]
        pages += 1
        token = body.get("nextPageToken")
        if token is None:
            break
    assert pages == 3
    assert len(names) == len(set(names)) == 8
    one = api.get(f"{BASE}/my_customer/resources/buildings", params={"maxResults": 1}).json()
    assert len(one["buildings"]) == 1
    assert one["nextPageToken"]


@pytest.mark.parametrize(
    "params", [{"maxResults": "0"}, {"maxResults": "501"}, {"maxResults": "x"}, {"pageToken": "zz"}]
)
def test_paging_errors(google_api: ApiFactory, params: dict[str, str]) -> None:
    response = google_api().get(f"{BASE}/my_customer/resources/calendars", params=params)
    assert response.status_code == 400
    assert reason(response) == "invalid"


@pytest.mark.parametrize(
    ("who", "customer"),
    [
        ("bob@example.com", "my_customer"),  # Workspace user without directory rights
        ("carol@gmail.com", "my_customer"),  # personal account
        ("alice@example.com", "C99"),  # another customer
    ],
)
def test_forbidden(google_api: ApiFactory, who: str, customer: str) -> None:
    api = google_api(who)
    for resource in ("buildings", "calendars"):
        response = api.get(f"{BASE}/{customer}/resources/{resource}")
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["message"] == "Not Authorized to access this resource/api"
        assert error["errors"][0]["reason"] == "forbidden"


def test_permission_flag_can_be_granted(google_api: ApiFactory, google_control: GoogleControl) -> None:
    api = google_api("bob@example.com")
    assert api.get(f"{BASE}/my_customer/resources/buildings").status_code == 403
    google_control.patch_user("bob@example.com", directory_permission=True)
    assert api.get(f"{BASE}/my_customer/resources/buildings").status_code == 200


def test_directory_needs_auth_and_scope(google_http: httpx.Client, google_api: ApiFactory) -> None:
    unauthenticated = google_http.get(f"{BASE}/my_customer/resources/buildings")
    assert unauthenticated.status_code == 401
    assert reason(unauthenticated) == "authError"
    no_scope = google_api(scopes=["openid", "https://www.googleapis.com/auth/calendar"])
    response = no_scope.get(f"{BASE}/my_customer/resources/buildings")
    assert response.status_code == 403
    assert reason(response) == "insufficientPermissions"
