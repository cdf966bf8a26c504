"""Rooms and availability API (JWT ``/v1``) against the emulator's Directory and freeBusy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.e2e]


async def client_for(harness: Any):
    connector = await harness.start_connector(push=False)
    base = connector.monitor.push_address or f"http://127.0.0.1:{connector.settings.http_port}"
    return httpx.AsyncClient(base_url=base.split("/notifications")[0], timeout=10)


def bearer(harness: Any, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {harness.auth.employee_token(email)}"}


async def test_rooms_need_a_building_then_list_its_rooms(harness: Any) -> None:
    async with await client_for(harness) as client:
        assert (await client.get("/v1/rooms")).status_code == 401
        conn = harness.connection(harness.world.admin)
        body = (await client.get("/v1/rooms", headers=bearer(harness, harness.world.admin))).json()
        assert body["provider"] == "google" and body["selection_required"] is True
        assert {c["id"] for c in body["choices"]} == {"hq", "annex"} and body["rooms"] == []
        harness.auth.connections[conn].info.room_group_id = "hq"
        body = (await client.get("/v1/rooms", headers=bearer(harness, harness.world.admin))).json()
        assert body["selection_required"] is False and body["selected"]["id"] == "hq"
        assert sorted(r["email"] for r in body["rooms"]) == sorted(
            str(r["resourceEmail"]) for r in harness.world.rooms if r.get("buildingId") == "hq"
        )


async def test_directory_permission_missing_is_explained_not_a_500(harness: Any) -> None:
    async with await client_for(harness) as client:
        harness.connection(harness.world.member)
        response = await client.get("/v1/rooms", headers=bearer(harness, harness.world.member))
        assert response.status_code == 403
        problem = response.json()
        assert problem["code"] == "directory_permission_missing"
        assert "administrator" in problem["detail"]


async def test_availability_is_answered_per_slot(harness: Any) -> None:
    async with await client_for(harness) as client:
        conn = harness.connection(harness.world.admin)
        appt = f"{harness.run_id}-busy"
        await harness.publish(harness.snapshot(appt, conn, slots=1))  # holds s1 with room index 1
        await harness.wait_for(lambda s: harness.latest(appt) is not None)
        start = harness.base + timedelta(hours=1)
        room = harness.world.room_email(1)
        other = harness.world.room_email(2)
        query = {
            "slots": [
                {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()},
                {
                    "start": (start + timedelta(hours=3)).isoformat(),
                    "end": (start + timedelta(hours=4)).isoformat(),
                },
            ],
            "room_emails": [room, other, "nobody@example.com"],
        }
        response = await client.post(
            "/v1/availability", json=query, headers=bearer(harness, harness.world.admin)
        )
        assert response.status_code == 200, response.text
        busy_slot, free_slot = response.json()["slots"]
        assert busy_slot["host_free"] is False and free_slot["host_free"] is True
        rooms = {r["email"]: r for r in busy_slot["rooms"]}
        assert rooms[room]["free"] is False and rooms[other]["free"] is True
        assert rooms["nobody@example.com"]["free"] is False and rooms["nobody@example.com"]["error"]
        assert all(r["free"] for r in free_slot["rooms"] if r["email"] != "nobody@example.com")


async def test_health_and_openapi(harness: Any) -> None:
    async with await client_for(harness) as client:
        assert (await client.get("/healthz")).json()["status"] == "ok"
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "store": True,
            "broker": True,
            "auth": True,
        }
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/v1/rooms", "/v1/availability", "/notifications/google", "/healthz", "/readyz"} <= set(paths)


async def test_another_tenants_token_sees_no_connection(harness: Any) -> None:
    async with await client_for(harness) as client:
        harness.connection(harness.world.admin)
        token = harness.auth.employee_token(harness.world.admin, tenant_id="tenant-2")
        response = await client.get("/v1/rooms", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 409 and response.json()["code"] == "calendar_not_linked"
        forged = harness.auth.employee_token(harness.world.admin)[:-4] + "AAAA"
        response = await client.get("/v1/rooms", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401


async def test_a_directory_room_with_a_bad_address_is_left_out_and_reported(harness: Any) -> None:
    """Issue row 4: one room whose address does not validate made /v1/rooms a 500 for the
    whole tenant, and "any free room" silently degraded."""
    building = f"bad-{harness.run_id}"
    harness.control.add_building(
        domain="example.com", buildingId=building, buildingName="Bad", floorNames=["1"]
    )
    harness.control.add_room(
        domain="example.com", resourceName="Broken", buildingId=building, resourceEmail="broken room@@example"
    )
    harness.control.add_room(domain="example.com", resourceName="Fine", buildingId=building, floorName="1")
    async with await client_for(harness) as client:
        conn = harness.connection(harness.world.admin)
        harness.auth.connections[conn].info.room_group_id = building
        response = await client.get("/v1/rooms", headers=bearer(harness, harness.world.admin))
        assert response.status_code == 200, response.text
        body = response.json()
        assert [r["name"] for r in body["rooms"]] == ["Fine"]
        assert [(w["code"], w["entry"]) for w in body["warnings"]] == [
            ("room_skipped", "broken room@@example")
        ]

        start = harness.base + timedelta(days=1)
        query = {
            "slots": [{"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}],
            "include_preferred_rooms": True,
        }
        answer = await client.post(
            "/v1/availability", json=query, headers=bearer(harness, harness.world.admin)
        )
        assert answer.status_code == 200, answer.text
        assert [r["email"] for r in answer.json()["slots"][0]["rooms"]] == [body["rooms"][0]["email"]]
        assert [w["entry"] for w in answer.json()["warnings"]] == ["broken room@@example"]
