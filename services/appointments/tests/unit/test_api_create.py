"""Creating appointments over HTTP: validation (422), auth (401/403), binding, availability."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from appointments_testkit import Harness, create_body, future, slot_json

from visitor_common import topics
from visitor_common.events import Provider

PROBLEM = "application/problem+json"


async def post(h: Harness, body: dict[str, Any], **auth: Any) -> Any:
    return await h.client.post("/v1/appointments", json=body, headers=h.auth(**auth))


def error_types(response: Any) -> list[str]:
    return [e["type"] for e in response.json()["errors"]]


async def test_create_answers_201_with_etag_location_and_guest_link(h: Harness) -> None:
    response = await post(h, create_body())
    assert response.status_code == 201
    body = response.json()
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/v1/appointments/{body['appointment_id']}"
    assert body["version"] == 1 and body["status"] == "proposed"
    assert body["guest_url"].endswith(body["guest_token"])
    assert body["hold_candidates"] is True
    assert body["host_email"] == "host@example.co.jp"
    assert len(body["candidates"]) == 2


async def test_unlinked_host_creates_with_not_linked_and_no_connector_topic(h: Harness) -> None:
    body = await h.create()
    assert body["binding"] is None
    assert body["calendar_sync"]["state"] == "not_linked"
    assert body["availability"]["state"] == "not_checked"
    outbox = await h.outbox(body["appointment_id"])
    assert [e["topic"] for e in outbox] == [topics.APPOINTMENT_LIFECYCLE]
    assert h.gateway.seen == []


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.OUTLOOK])
async def test_bound_host_routes_to_lifecycle_and_own_provider_only(h: Harness, provider: Provider) -> None:
    connection_id = h.directory.link("t1", "e1", provider)
    body = await h.create(create_body(hold_candidates=False))
    assert body["binding"] == {
        "provider": provider.value,
        "connection_id": connection_id,
        "account_email": "host@example.co.jp",
    }
    assert body["calendar_sync"]["state"] == "pending"
    outbox = await h.outbox(body["appointment_id"])
    assert [e["topic"] for e in outbox] == [
        topics.APPOINTMENT_LIFECYCLE,
        topics.appointments_topic_for(provider),
    ]
    envelope = json.loads(outbox[1]["payload"])
    assert envelope["type"] == "jp.visitor-scheduling.appointment.created.v1"
    assert envelope["subject"] == body["appointment_id"] and envelope["appointmentversion"] == 1
    snapshot = envelope["data"]["appointment"]
    assert snapshot["hold_candidates"] is False
    assert snapshot["guests"][0]["company"] == "ACME KK"
    assert len(snapshot["candidates"]) == 2


async def test_availability_conflicts_are_reported_per_slot(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    first, second, third = future(3), future(4), future(5)
    h.gateway.host_busy = [(first, first + timedelta(minutes=30))]
    h.gateway.busy_rooms = {"room-a@example.co.jp": [(second, second + timedelta(hours=1))]}
    body = create_body()
    body["candidates"] = [
        slot_json(first),
        slot_json(second, room="room-a@example.co.jp"),
        slot_json(third, room="room-a@example.co.jp"),
    ]
    token = h.keys.mint()
    response = await h.client.post(
        "/v1/appointments", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
    created = response.json()
    assert created["availability"]["state"] == "checked"
    checks = [c["availability"] for c in created["candidates"]]
    assert checks[0]["available"] is False and checks[0]["conflicts"][0]["kind"] == "host_busy"
    assert checks[1]["available"] is False and checks[1]["conflicts"][0]["kind"] == "room_busy"
    assert checks[2]["available"] is True and checks[2]["conflicts"] == []
    # The caller's own bearer token is what the bound connector saw.
    assert h.gateway.seen == [(Provider.GOOGLE, "availability", token)]


async def test_any_free_room_assigns_a_free_room(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.OUTLOOK)
    start = future(3)
    h.gateway.busy_rooms = {"room-a@example.co.jp": [(start, start + timedelta(hours=1))]}
    created = await h.create(create_body(start, any_free_room=True))
    assert created["candidates"][0]["room"]["email"] == "room-b@example.co.jp"
    assert created["candidates"][0]["availability"]["room_free"] is True


async def test_any_free_room_without_free_rooms_reports_it(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    h.gateway.rooms_in_group = []
    created = await h.create(create_body(future(3), any_free_room=True))
    check = created["candidates"][0]["availability"]
    assert check["available"] is False and check["conflicts"][0]["kind"] == "no_free_room"


async def test_any_free_room_needs_a_building_choice_first(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    h.gateway.selection_required = True
    response = await post(h, create_body(any_free_room=True))
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["code"] == "room_group_selection_required"
    assert problem["choices"] == [{"id": "b1", "name": "Tokyo HQ"}]


async def test_unreachable_connector_still_creates_with_unknown_availability(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    h.gateway.unreachable = True
    created = await h.create(create_body(any_free_room=True))
    assert created["availability"]["state"] == "unknown"
    assert "Google" in created["availability"]["reason"]
    assert all(c["availability"]["available"] is None for c in created["candidates"])
    assert created["calendar_sync"]["state"] == "pending"


async def test_auth_service_down_is_503_not_a_blind_write(h: Harness) -> None:
    h.directory.unavailable = True
    response = await post(h, create_body())
    assert response.status_code == 503
    assert response.json()["code"] == "dependency_unavailable"
    assert response.headers["Retry-After"]


async def test_host_email_falls_back_to_the_bound_account(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE, email="cal@example.co.jp")
    created = await h.create(email=None)
    assert created["host_email"] == "cal@example.co.jp"


async def test_host_without_any_email_is_422(h: Harness) -> None:
    response = await post(h, create_body(), email=None)
    assert response.status_code == 422 and response.json()["code"] == "host_email_unknown"


# --- validation -----------------------------------------------------------------------------


def with_candidates(*candidates: dict[str, Any]) -> dict[str, Any]:
    return {**create_body(), "candidates": list(candidates)}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (with_candidates({"start": "2031-01-07T10:00:00"}), "timezone_aware"),
        (with_candidates({"start": 1924941600}), "value_error"),
        (with_candidates({"start": "next tuesday"}), "datetime_from_date_parsing"),
        (with_candidates(), "too_short"),
        ({**create_body(), "duration_minutes": 3}, "greater_than_equal"),
        ({**create_body(), "duration_minutes": 721}, "less_than_equal"),
        ({**create_body(), "duration_minutes": "60"}, "int_type"),
        ({**create_body(), "title": " "}, "string_too_short"),
        ({**create_body(), "title": "x" * 201}, "string_too_long"),
        ({**create_body(), "notes": "x" * 2001}, "string_too_long"),
        ({**create_body(), "guests": [{"name": "A", "email": "not-an-email"}]}, "value_error"),
        ({**create_body(), "guests": []}, "too_short"),
        ({**create_body(), "unexpected": 1}, "extra_forbidden"),
    ],
)
async def test_malformed_input_is_422_problem(h: Harness, body: dict[str, Any], expected: str) -> None:
    response = await post(h, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == "validation_failed"
    assert any(expected in t for t in error_types(response)), error_types(response)


async def test_more_than_ten_candidates_is_422(h: Harness) -> None:
    response = await post(h, with_candidates(*[slot_json(future(2 + i)) for i in range(11)]))
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([slot_json(future(-2))], "slot_in_past"),
        (
            [{"start": future(3).isoformat(), "end": (future(3) - timedelta(hours=1)).isoformat()}],
            "end_before_start",
        ),
        ([slot_json(future(3)), slot_json(future(3) + timedelta(minutes=30))], "slots_overlap"),
        ([slot_json(future(3), minutes=90)], "slot_length_mismatch"),
    ],
)
async def test_scheduling_rules_are_422_with_the_field(
    h: Harness, candidates: list[dict[str, Any]], expected: str
) -> None:
    response = await post(h, with_candidates(*candidates))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert expected in error_types(response)
    assert response.json()["errors"][0]["loc"][:2] == ["body", "candidates"]


# --- authentication and tenancy -------------------------------------------------------------


async def test_every_v1_route_needs_a_token(h: Harness) -> None:
    for method, url in [
        ("POST", "/v1/appointments"),
        ("GET", "/v1/appointments"),
        ("GET", "/v1/appointments/apt-x"),
        ("PATCH", "/v1/appointments/apt-x"),
        ("POST", "/v1/appointments/apt-x/cancel"),
        ("POST", "/v1/appointments/apt-x/reschedule"),
        ("POST", "/v1/appointments/apt-x/calendar-restore"),
    ]:
        response = await h.client.request(method, url, json={})
        assert response.status_code == 401, (method, url)
        assert response.json()["code"] == "unauthorized"


async def test_forged_token_is_401(h: Harness) -> None:
    from appointments_testkit import Keys

    forged = {"Authorization": f"Bearer {Keys().mint()}"}
    response = await h.client.get("/v1/appointments", headers=forged)
    assert response.status_code == 401


async def test_service_token_is_403(h: Harness) -> None:
    import time

    import jwt

    claims = {"sub": "svc", "typ": "service", "iss": "test-auth", "aud": "visitor-scheduling"}
    now = int(time.time())
    token = jwt.encode(
        {**claims, "iat": now, "exp": now + 60},
        h.keys.private,
        algorithm="EdDSA",
        headers={"kid": "test-key"},
    )
    response = await h.client.get("/v1/appointments", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.json()["code"] == "employee_token_required"


async def test_another_tenants_appointment_is_404(h: Harness) -> None:
    created = await h.create()
    url = f"/v1/appointments/{created['appointment_id']}"
    other = h.auth(tenant="t2", employee="e1")
    assert (await h.client.get(url, headers=other)).status_code == 404
    changed = await h.client.patch(url, json={"title": "x"}, headers={**other, "If-Match": '"1"'})
    assert changed.status_code == 404
    cancelled = await h.client.post(f"{url}/cancel", headers={**other, "If-Match": '"1"'})
    assert cancelled.status_code == 404
    assert (await h.client.get("/v1/appointments", headers=other)).json()["items"] == []
    stored = (await h.client.get(url, headers=h.auth())).json()
    assert stored["version"] == 1 and stored["title"] == "Quarterly review"


async def test_list_shows_own_appointments_newest_first(h: Harness) -> None:
    first = await h.create()
    h.clock.advance(timedelta(seconds=1))
    second = await h.create()
    await h.create(tenant="t1", employee="e2")
    items = (await h.client.get("/v1/appointments", headers=h.auth())).json()["items"]
    assert [i["appointment_id"] for i in items] == [second["appointment_id"], first["appointment_id"]]


@pytest.mark.parametrize("start", ["9999-12-31T23:59:59+00:00", "9999-12-31T23:59:00-09:00"])
@pytest.mark.parametrize("with_end", [False, True])
async def test_slots_at_the_end_of_time_are_422_at_any_offset(h: Harness, start: str, with_end: bool) -> None:
    """Row 3: beyond the booking horizon before any date arithmetic (was a 500: start + duration)."""
    body = create_body()
    body["candidates"] = [{"start": start, **({"end": start} if with_end else {})}]
    response = await post(h, body)
    assert response.status_code == 422, response.text
    assert "slot_too_far" in error_types(response)
    assert response.json()["errors"][0]["loc"] == ["body", "candidates", 0, "start"]
    created = await h.create()
    rescheduled = await h.client.post(
        f"/v1/appointments/{created['appointment_id']}/reschedule",
        json={"candidates": body["candidates"]},
        headers=h.auth() | {"If-Match": '"1"'},
    )
    assert rescheduled.status_code == 422 and "slot_too_far" in error_types(rescheduled)
