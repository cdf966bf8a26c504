"""The rooms / availability router on a fake provider: selection, filtering, free/busy, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request

from calendar_sync.adapters import availability_router
from calendar_sync.core import BusyInterval
from calendar_sync.testing import FakeCalendarProvider, FakeTokens
from visitor_common.contracts.availability import Room, RoomGroup
from visitor_common.contracts.connections import ConnectionInfo
from visitor_common.events import ConnectionStatus, Provider
from visitor_common.security import Principal, PrincipalKind
from visitor_common.web import ProblemError, install_problem_handlers

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


class Lookup(FakeTokens):
    def __init__(self) -> None:
        super().__init__()
        self.room_group_id: str | None = None

    async def connection_for_employee(self, tenant_id: str, employee_id: str) -> ConnectionInfo | None:
        if employee_id == "nobody":
            return None
        return ConnectionInfo(
            connection_id=f"conn-{employee_id}",
            tenant_id=tenant_id,
            employee_id=employee_id,
            provider=Provider.GOOGLE,
            account_email="host@example.com",
            status=ConnectionStatus.ACTIVE,
            room_group_id=self.room_group_id,
            linked_at=T0,
        )


async def principal(request: Request) -> Principal:
    employee = request.headers.get("x-employee")
    if not employee:
        raise ProblemError(401, "unauthorized", "A valid bearer token is required")
    return Principal(kind=PrincipalKind.EMPLOYEE, subject=employee, tenant_id="tenant-1")


@pytest.fixture
def setup() -> tuple[FakeCalendarProvider, Lookup, httpx.AsyncClient]:
    provider = FakeCalendarProvider(
        max_calendars_per_free_busy=2,
        groups=[RoomGroup(id="b1", name="Tower"), RoomGroup(id="b2", name="Annex")],
        rooms=[
            Room(email="r1@example.com", name="R1", group_id="b1"),
            Room(email="r2@example.com", name="R2", group_id="b1"),
            Room(email="r3@example.com", name="R3", group_id="b2"),
        ],
    )
    lookup = Lookup()
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(availability_router(provider, lookup, principal))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    return provider, lookup, client


async def test_rooms_need_a_building_first(
    setup: tuple[FakeCalendarProvider, Lookup, httpx.AsyncClient],
) -> None:
    _, lookup, client = setup
    body = (await client.get("/v1/rooms", headers={"x-employee": "e1"})).json()
    assert body["selection_required"] is True and body["rooms"] == []
    assert [c["id"] for c in body["choices"]] == ["b1", "b2"]
    lookup.room_group_id = "b1"
    body = (await client.get("/v1/rooms", headers={"x-employee": "e1"})).json()
    assert body["selection_required"] is False and body["selected"]["id"] == "b1"
    assert [r["email"] for r in body["rooms"]] == ["r1@example.com", "r2@example.com"]


async def test_directory_is_cached(setup: tuple[FakeCalendarProvider, Lookup, httpx.AsyncClient]) -> None:
    provider, _, client = setup
    for _ in range(3):
        await client.get("/v1/rooms", headers={"x-employee": "e1"})
    assert provider.count("list_room_groups") == 1


async def test_directory_permission_problem_is_explained(
    setup: tuple[FakeCalendarProvider, Lookup, httpx.AsyncClient],
) -> None:
    provider, _, client = setup
    provider.directory_forbidden = True
    response = await client.get("/v1/rooms", headers={"x-employee": "e1"})
    assert response.status_code == 403
    assert response.json()["code"] == "directory_permission_missing"


async def test_no_token_no_connection(setup: tuple[FakeCalendarProvider, Lookup, httpx.AsyncClient]) -> None:
    _, _, client = setup
    assert (await client.get("/v1/rooms")).status_code == 401
    response = await client.get("/v1/rooms", headers={"x-employee": "nobody"})
    assert response.status_code == 409 and response.json()["code"] == "calendar_not_linked"


async def test_availability_per_slot_in_batches(
    setup: tuple[FakeCalendarProvider, Lookup, httpx.AsyncClient],
) -> None:
    provider, lookup, client = setup
    lookup.room_group_id = "b1"
    provider.busy["host@example.com"] = [BusyInterval(T0, T0 + timedelta(minutes=30))]
    provider.busy["r2@example.com"] = [BusyInterval(T0 + timedelta(days=1), T0 + timedelta(days=1, hours=2))]
    query = {
        "slots": [
            {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()},
            {
                "start": (T0 + timedelta(days=1)).isoformat(),
                "end": (T0 + timedelta(days=1, hours=1)).isoformat(),
            },
        ],
        "room_emails": ["r3@example.com"],
        "include_preferred_rooms": True,
    }
    response = await client.post("/v1/availability", json=query, headers={"x-employee": "e1"})
    assert response.status_code == 200, response.text
    first, second = response.json()["slots"]
    assert first["host_free"] is False and len(first["host_busy"]) == 1
    assert second["host_free"] is True
    assert {r["email"]: r["free"] for r in second["rooms"]} == {
        "r3@example.com": True,
        "r1@example.com": True,
        "r2@example.com": False,
    }
    assert provider.count("free_busy") == 2  # 4 calendars, batches of 2


async def test_a_room_that_does_not_validate_is_left_out_and_reported(
    setup: tuple[FakeCalendarProvider, Lookup, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    provider, lookup, client = setup
    # What a provider mapping hands over from the tenant's directory, unjudged.
    provider.rooms.append(Room.model_construct(email="Room 4 (no address)", name="R4", group_id="b1"))
    provider.rooms.append(
        Room.model_construct(email="r5@example.com", name="R5", group_id="b1", capacity="lots")
    )
    provider.rooms.append(Room.model_construct(email="\x1b[2Jbad", name="R6", group_id="b2"))
    lookup.room_group_id = "b1"
    with caplog.at_level("WARNING"):
        response = await client.get("/v1/rooms", headers={"x-employee": "e1"})
        await client.get("/v1/rooms", headers={"x-employee": "e1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["email"] for r in body["rooms"]] == ["r1@example.com", "r2@example.com"]
    warned = {w["entry"]: w for w in body["warnings"]}
    assert set(warned) == {"Room 4 (no address)", "r5@example.com"}  # b2's bad room is not b1's business
    assert warned["Room 4 (no address)"]["code"] == "room_skipped"
    assert "email" in warned["Room 4 (no address)"]["reason"]
    assert "capacity" in warned["r5@example.com"]["reason"]
    lines = [r for r in caplog.records if r.getMessage() == "directory entries left out of the room list"]
    assert len(lines) == 1 and lines[0].__dict__["skipped"] == 3  # one line per directory load

    lookup.room_group_id = "b2"
    body = (await client.get("/v1/rooms", headers={"x-employee": "e1"})).json()
    assert [w["entry"] for w in body["warnings"]] == ["\ufffd[2Jbad"]  # control characters not echoed


async def test_any_free_room_says_which_rooms_it_could_not_consider(
    setup: tuple[FakeCalendarProvider, Lookup, httpx.AsyncClient],
) -> None:
    provider, lookup, client = setup
    provider.rooms.append(Room.model_construct(email="not-an-address", name="R4", group_id="b1"))
    lookup.room_group_id = "b1"
    query = {
        "slots": [{"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}],
        "include_preferred_rooms": True,
    }
    response = await client.post("/v1/availability", json=query, headers={"x-employee": "e1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["email"] for r in body["slots"][0]["rooms"]] == ["r1@example.com", "r2@example.com"]
    assert [w["entry"] for w in body["warnings"]] == ["not-an-address"]
