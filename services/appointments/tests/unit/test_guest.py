"""The guest's link: view, pick (exactly one wins), reception code, expiry, rate limits."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from appointments_testkit import Harness, create_body, future, slot_json, unit_settings

from appointments_service.domain.rules import hash_guest_token
from visitor_common import topics
from visitor_common.events import Provider


def guest_url(created: dict[str, Any], suffix: str = "") -> str:
    return f"/v1/guest/appointments/{created['guest_token']}{suffix}"


async def test_guest_sees_still_available_candidates_only(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    busy = future(3)
    h.gateway.host_busy = [(busy, busy + timedelta(hours=1))]
    created = await h.create(create_body(busy, future(4), future(5)))
    response = await h.client.get(guest_url(created))
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Quarterly review" and body["status"] == "proposed"
    assert [c["slot_id"] for c in body["candidates"]] == [c["slot_id"] for c in created["candidates"][1:]]
    assert "host_email" not in body and "guests" not in body

    # between the slot of day 4 and that of day 5, whatever the time of day the test runs at
    # (a fixed 4 days 12 hours went past the day-5 slot, and so the link's end, after 22:00 UTC)
    h.clock.now = future(4, hour=12)
    later = (await h.client.get(guest_url(created))).json()
    assert [c["slot_id"] for c in later["candidates"]] == [created["candidates"][2]["slot_id"]]


async def test_unknown_token_is_404_and_expired_is_410(h: Harness) -> None:
    created = await h.create()
    unknown = await h.client.get("/v1/guest/appointments/" + "A" * 43)
    assert unknown.status_code == 404 and unknown.json()["code"] == "guest_link_invalid"
    h.clock.advance(timedelta(days=15))
    expired = await h.client.get(guest_url(created))
    assert expired.status_code == 410 and expired.json()["code"] == "guest_link_expired"


async def test_only_the_token_hash_is_stored(h: Harness) -> None:
    created = await h.create()
    doc = await h.container.repository.appointments.get(created["appointment_id"])
    assert created["guest_token"] not in json.dumps(doc, default=str)
    assert doc["guest_link"]["token_hash"] == hash_guest_token(created["guest_token"])


async def test_pick_confirms_and_returns_the_reception_code(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.OUTLOOK)
    created = await h.create()
    slot_id = created["candidates"][1]["slot_id"]
    response = await h.client.post(guest_url(created, "/pick"), json={"slot_id": slot_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "confirmed" and body["confirmed_slot"]["slot_id"] == slot_id
    code = body["reception_code"]
    assert len(code) == 6 and code.isdigit()

    host_view = (await h.client.get(f"/v1/appointments/{created['appointment_id']}", headers=h.auth())).json()
    assert host_view["status"] == "confirmed" and host_view["reception_code"] == code
    assert host_view["version"] == 2 and host_view["confirmed_slot_id"] == slot_id

    outbox = await h.outbox(created["appointment_id"])
    confirmed = {e["topic"]: json.loads(e["payload"]) for e in outbox[2:]}
    assert set(confirmed) == {topics.APPOINTMENT_LIFECYCLE, topics.OUTLOOK_APPOINTMENTS}
    assert confirmed[topics.APPOINTMENT_LIFECYCLE]["data"]["reception_code"] == code
    assert confirmed[topics.OUTLOOK_APPOINTMENTS]["data"]["reception_code"] is None
    assert confirmed[topics.OUTLOOK_APPOINTMENTS]["data"]["appointment"]["confirmed_slot_id"] == slot_id
    assert code not in outbox[3]["payload"]

    guest_view = (await h.client.get(guest_url(created))).json()
    assert guest_view["candidates"] == [] and guest_view["confirmed_slot"]["slot_id"] == slot_id


async def test_two_concurrent_picks_exactly_one_wins(h: Harness) -> None:
    created = await h.create()
    first, second = (c["slot_id"] for c in created["candidates"])
    results = await asyncio.gather(
        h.client.post(guest_url(created, "/pick"), json={"slot_id": first}),
        h.client.post(guest_url(created, "/pick"), json={"slot_id": second}),
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["code"] == "already_confirmed"
    outbox = await h.outbox(created["appointment_id"])
    assert [json.loads(e["payload"])["type"].split(".")[-2] for e in outbox] == ["created", "confirmed"]


async def test_many_concurrent_picks_of_the_same_slot_confirm_once_with_one_code(h: Harness) -> None:
    created = await h.create()
    slot_id = created["candidates"][0]["slot_id"]
    results = await asyncio.gather(
        *(h.client.post(guest_url(created, "/pick"), json={"slot_id": slot_id}) for _ in range(8))
    )
    assert [r.status_code for r in results] == [200] * 8
    assert len({r.json()["reception_code"] for r in results}) == 1
    outbox = await h.outbox(created["appointment_id"])
    assert [json.loads(e["payload"])["type"].split(".")[-2] for e in outbox] == ["created", "confirmed"]


async def test_a_double_click_answers_the_same_confirmation_and_code(h: Harness) -> None:
    """Row 7: the identical second pick shows the code again instead of a 409 without it."""
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    first_slot, other_slot = (c["slot_id"] for c in created["candidates"])
    first = await h.client.post(guest_url(created, "/pick"), json={"slot_id": first_slot})
    again = await h.client.post(guest_url(created, "/pick"), json={"slot_id": first_slot})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    other = await h.client.post(guest_url(created, "/pick"), json={"slot_id": other_slot})
    assert other.status_code == 409 and other.json()["code"] == "already_confirmed"
    assert "reception_code" not in other.text
    host_view = (await h.client.get(f"/v1/appointments/{created['appointment_id']}", headers=h.auth())).json()
    assert host_view["version"] == 2  # the repeat wrote nothing


async def test_pick_of_a_slot_no_longer_free_is_a_clear_409(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    busy = future(3)
    h.gateway.host_busy = [(busy, busy + timedelta(hours=1))]
    created = await h.create()
    response = await h.client.post(
        guest_url(created, "/pick"), json={"slot_id": created["candidates"][0]["slot_id"]}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "slot_unavailable"
    assert "choose another" in response.json()["detail"]


async def test_pick_of_a_started_slot_and_unknown_slot(h: Harness) -> None:
    created = await h.create(create_body(future(1, hour=23), future(5)))
    h.clock.advance(timedelta(days=2))
    started = await h.client.post(
        guest_url(created, "/pick"), json={"slot_id": created["candidates"][0]["slot_id"]}
    )
    assert started.status_code == 409 and started.json()["code"] == "slot_unavailable"
    unknown = await h.client.post(guest_url(created, "/pick"), json={"slot_id": "s-nope"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "slot_not_found"


async def test_pick_refused_when_bound_connection_unusable(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    created = await h.create()
    h.directory.link("t1", "e1", Provider.OUTLOOK)
    response = await h.client.post(
        guest_url(created, "/pick"), json={"slot_id": created["candidates"][0]["slot_id"]}
    )
    assert response.status_code == 409 and response.json()["code"] == "bound_connection_unusable"
    assert "contact the host" in response.json()["detail"]
    assert "host@example.co.jp" not in response.text and "conn-" not in response.text
    outbox = await h.outbox(created["appointment_id"])
    assert all(e["topic"] != topics.OUTLOOK_APPOINTMENTS for e in outbox)


async def test_confirmed_appointment_is_rescheduled_to_one_slot_keeping_the_code(h: Harness) -> None:
    created = await h.create()
    picked = await h.client.post(
        guest_url(created, "/pick"), json={"slot_id": created["candidates"][0]["slot_id"]}
    )
    code = picked.json()["reception_code"]
    url = f"/v1/appointments/{created['appointment_id']}/reschedule"
    two = {"candidates": [slot_json(future(8)), slot_json(future(9))]}
    assert (await h.client.post(url, json=two, headers=h.auth() | {"If-Match": '"2"'})).status_code == 422
    moved = await h.client.post(
        url, json={"candidates": [slot_json(future(8))]}, headers=h.auth() | {"If-Match": '"2"'}
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["status"] == "confirmed" and body["reception_code"] == code
    assert body["confirmed_slot_id"] == body["candidates"][0]["slot_id"]


async def test_guest_routes_are_rate_limited_per_token(make_harness: Any) -> None:
    async with make_harness(unit_settings(guest_rate_limit_per_minute=3)) as h:
        created = await h.create()
        statuses = [(await h.client.get(guest_url(created))).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = await h.client.get(guest_url(created))
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["content-type"].startswith("application/problem+json")


async def test_guest_routes_are_rate_limited_per_ip_across_tokens(make_harness: Any) -> None:
    async with make_harness(unit_settings(guest_rate_limit_per_minute=5)) as h:
        statuses = [
            (await h.client.get(f"/v1/guest/appointments/{'x' * 20}{i:04d}")).status_code for i in range(6)
        ]
        assert statuses == [404] * 5 + [429]


async def test_malformed_tokens_are_422(h: Harness) -> None:
    assert (await h.client.get("/v1/guest/appointments/short")).status_code == 422
    assert (await h.client.get("/v1/guest/appointments/" + "%24" * 20)).status_code == 422
