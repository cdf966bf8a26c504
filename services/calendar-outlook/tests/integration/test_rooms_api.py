"""``GET /v1/rooms`` and ``POST /v1/availability`` over the emulator (no broker needed: the
routes run without the lifespan)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from calendar_outlook.bootstrap import create_app
from calendar_outlook.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(
    emulator_settings: dict[str, Any], fake_auth: Any, jwt_issuer: Any
) -> AsyncIterator[httpx.AsyncClient]:
    fake_auth.jwks = jwt_issuer.jwks()
    settings = Settings(**emulator_settings)
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://outlook") as client:
        yield client
    await app.state.connector.runtime.stop()


def bearer(jwt_issuer: Any, conn: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt_issuer.employee_token(conn.tenant_id, conn.employee_id)}"}


async def test_every_v1_route_needs_a_token(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/rooms")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert (await api.post("/v1/availability", json={})).status_code == 401


async def test_room_list_selection_is_required_until_chosen(
    api: httpx.AsyncClient, fake_auth: Any, graph_emulator: Any, jwt_issuer: Any
) -> None:
    world = graph_emulator.world
    conn = fake_auth.link(world.host)
    response = await api.get("/v1/rooms", headers=bearer(jwt_issuer, conn))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] == "outlook" and body["selection_required"] is True
    assert body["choices"] == [{"id": world.room_list, "name": "Tokyo HQ"}] and body["rooms"] == []

    fake_auth.connections[conn.connection_id].info.room_group_id = world.room_list
    body = (await api.get("/v1/rooms", headers=bearer(jwt_issuer, conn))).json()
    assert body["selection_required"] is False and body["selected"]["id"] == world.room_list
    assert [r["email"] for r in body["rooms"]] == world.rooms
    assert body["rooms"][0] == {
        "email": world.rooms[0], "name": "Room 1", "capacity": 4, "group_id": world.room_list, "floor": "1F"
    }  # fmt: skip


async def test_missing_admin_consent_is_an_explained_403(
    api: httpx.AsyncClient, fake_auth: Any, graph_emulator: Any, jwt_issuer: Any
) -> None:
    world = graph_emulator.world
    conn = fake_auth.link(world.host, tenant_id="t-consent")
    graph_emulator.control.revoke_admin_consent(world.contoso_id, world.client_id)
    response = await api.get("/v1/rooms", headers=bearer(jwt_issuer, conn))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "admin_consent_required"
    assert "administrator" in problem["detail"] and "Place.Read.All" in problem["detail"]


async def test_availability_of_host_and_rooms(
    api: httpx.AsyncClient, fake_auth: Any, graph_emulator: Any, jwt_issuer: Any
) -> None:
    world = graph_emulator.world
    conn = fake_auth.link(world.host, tenant_id="t-avail")
    fake_auth.connections[conn.connection_id].info.room_group_id = world.room_list
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=2)
    end = start + dt.timedelta(hours=1)
    stamp = {"timeZone": "UTC"}
    graph_emulator.control.create_event(
        world.host,
        {"subject": "Busy", "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), **stamp},
         "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), **stamp},
         "attendees": [{"emailAddress": {"address": world.rooms[0]}, "type": "resource"}]},
    )  # fmt: skip
    query = {
        "slots": [
            {"start": start.isoformat(), "end": end.isoformat()},
            {
                "start": (start + dt.timedelta(hours=2)).isoformat(),
                "end": (end + dt.timedelta(hours=2)).isoformat(),
            },
        ],
        "room_emails": ["nobody@contoso.example"],
        "include_preferred_rooms": True,
    }
    response = await api.post("/v1/availability", json=query, headers=bearer(jwt_issuer, conn))
    assert response.status_code == 200, response.text
    first, second = response.json()["slots"]
    assert first["host_free"] is False and second["host_free"] is True
    rooms = {r["email"]: r for r in first["rooms"]}
    assert rooms[world.rooms[0]]["free"] is False and rooms[world.rooms[1]]["free"] is True
    assert rooms["nobody@contoso.example"]["error"] == "ErrorMailRecipientNotFound"
    assert all(r["free"] for r in second["rooms"] if r["email"] != "nobody@contoso.example")


async def test_another_tenant_sees_no_connection(
    api: httpx.AsyncClient, fake_auth: Any, graph_emulator: Any, jwt_issuer: Any
) -> None:
    conn = fake_auth.link(graph_emulator.world.host, tenant_id="t-a")
    token = jwt_issuer.employee_token("t-b", conn.employee_id)
    response = await api.get("/v1/rooms", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409
    assert response.json()["code"] == "calendar_not_linked"


async def test_the_notification_endpoint_answers_the_validation_handshake(api: httpx.AsyncClient) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 42"
    response = await api.post("/notifications/outlook", params={"validationToken": token})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == token
    bad = await api.post("/notifications/outlook", content=b"{nope")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_notification"


async def test_openapi_and_health(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert {"/v1/rooms", "/v1/availability", "/notifications/outlook", "/healthz", "/readyz"} <= set(
        spec["paths"]
    )
    assert (await api.get("/healthz")).json()["status"] == "ok"


async def test_a_directory_room_with_a_bad_address_is_left_out_and_reported(
    api: httpx.AsyncClient, fake_auth: Any, graph_emulator: Any, jwt_issuer: Any
) -> None:
    """Issue row 4: one room whose address does not validate made /v1/rooms a 500 for the
    whole tenant, and "any free room" silently degraded."""
    world = graph_emulator.world
    graph_emulator.control.add_room(
        "Room 9 (ask reception)", "Room 9", world.contoso_id, room_list=world.room_list
    )
    conn = fake_auth.link(world.host, tenant_id="t-bad-room")
    fake_auth.connections[conn.connection_id].info.room_group_id = world.room_list
    response = await api.get("/v1/rooms", headers=bearer(jwt_issuer, conn))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["email"] for r in body["rooms"]] == world.rooms
    assert [(w["code"], w["entry"]) for w in body["warnings"]] == [("room_skipped", "room 9 (ask reception)")]

    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=3)
    query = {
        "slots": [{"start": start.isoformat(), "end": (start + dt.timedelta(hours=1)).isoformat()}],
        "include_preferred_rooms": True,
    }
    answer = await api.post("/v1/availability", json=query, headers=bearer(jwt_issuer, conn))
    assert answer.status_code == 200, answer.text
    assert sorted(r["email"] for r in answer.json()["slots"][0]["rooms"]) == sorted(world.rooms)
    assert [w["entry"] for w in answer.json()["warnings"]] == ["room 9 (ask reception)"]
