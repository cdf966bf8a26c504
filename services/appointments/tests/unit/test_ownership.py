"""Ownership (docs/decisions/0010): every host route with the host, another member of the same
tenant, and a tenant administrator. Another member gets 404 everywhere, exactly as for another
tenant; the administrator may read and cancel, nothing else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from appointments_testkit import Harness, future, slot_json

from visitor_common.events import Provider

HOST = {"employee": "e1"}
MEMBER = {"employee": "e2", "email": "colleague@example.co.jp"}
ADMIN = {"employee": "e9", "email": "admin@example.co.jp", "role": "admin"}
OTHER_TENANT = {"tenant": "t2", "employee": "e1", "role": "admin"}

Call = Callable[[Harness, dict[str, Any], dict[str, str]], Awaitable[Any]]


def url(created: dict[str, Any], suffix: str = "") -> str:
    return f"/v1/appointments/{created['appointment_id']}{suffix}"


def v1(headers: dict[str, str]) -> dict[str, str]:
    return headers | {"If-Match": '"1"'}


async def read(h: Harness, created: dict[str, Any], auth: dict[str, str]) -> Any:
    return await h.client.get(url(created), headers=auth)


async def patch(h: Harness, created: dict[str, Any], auth: dict[str, str]) -> Any:
    body = {"guests": [{"name": "Mallory", "email": "mallory@evil.example"}]}
    return await h.client.patch(url(created), json=body, headers=v1(auth))


async def reschedule(h: Harness, created: dict[str, Any], auth: dict[str, str]) -> Any:
    body = {"candidates": [slot_json(future(9))]}
    return await h.client.post(url(created, "/reschedule"), json=body, headers=v1(auth))


async def cancel(h: Harness, created: dict[str, Any], auth: dict[str, str]) -> Any:
    return await h.client.post(url(created, "/cancel"), json={"reason": "left"}, headers=v1(auth))


async def restore(h: Harness, created: dict[str, Any], auth: dict[str, str]) -> Any:
    return await h.client.post(url(created, "/calendar-restore"), headers=auth)


async def reissue(h: Harness, created: dict[str, Any], auth: dict[str, str]) -> Any:
    return await h.client.post(url(created, "/guest-link"), headers=v1(auth))


async def revoke(h: Harness, created: dict[str, Any], auth: dict[str, str]) -> Any:
    return await h.client.delete(url(created, "/guest-link"), headers=v1(auth))


ROUTES: dict[str, tuple[Call, int]] = {
    # route: (call, the host's status)
    "read": (read, 200),
    "patch": (patch, 200),
    "reschedule": (reschedule, 200),
    "cancel": (cancel, 200),
    "calendar-restore": (restore, 202),
    "reissue guest link": (reissue, 201),
    "revoke guest link": (revoke, 200),
}
ADMIN_MAY = {"read", "cancel"}


async def bound(h: Harness) -> dict[str, Any]:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    return await h.create(**HOST)


async def assert_untouched(h: Harness, created: dict[str, Any]) -> None:
    stored = (await read(h, created, h.auth(**HOST))).json()
    assert stored["version"] == 1 and stored["status"] == "proposed"
    assert stored["guests"] == created["guests"]
    guest = await h.client.get(f"/v1/guest/appointments/{created['guest_token']}")
    assert guest.status_code == 200  # the host's guest link still works


@pytest.mark.parametrize("route", ROUTES)
async def test_the_host_may_use_every_route(h: Harness, route: str) -> None:
    created = await bound(h)
    call, expected = ROUTES[route]
    response = await call(h, created, h.auth(**HOST))
    assert response.status_code == expected, response.text


@pytest.mark.parametrize("who", [MEMBER, OTHER_TENANT], ids=["same-tenant member", "other tenant"])
@pytest.mark.parametrize("route", ROUTES)
async def test_anyone_else_gets_404_and_changes_nothing(h: Harness, route: str, who: dict[str, Any]) -> None:
    created = await bound(h)
    call, _ = ROUTES[route]
    response = await call(h, created, h.auth(**who))
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "appointment_not_found"
    await assert_untouched(h, created)


@pytest.mark.parametrize("route", sorted(set(ROUTES) - ADMIN_MAY))
async def test_an_administrator_may_not_change_someone_elses_appointment(h: Harness, route: str) -> None:
    created = await bound(h)
    call, _ = ROUTES[route]
    response = await call(h, created, h.auth(**ADMIN))
    assert response.status_code == 404, response.text
    await assert_untouched(h, created)


async def test_an_administrator_reads_any_appointment_of_the_tenant(h: Harness) -> None:
    created = await bound(h)
    response = await read(h, created, h.auth(**ADMIN))
    assert response.status_code == 200
    assert response.json()["host_employee_id"] == "e1"


async def test_an_administrator_cancels_an_appointment_of_someone_who_left(h: Harness) -> None:
    created = await bound(h)
    picked = await h.client.post(
        f"/v1/guest/appointments/{created['guest_token']}/pick",
        json={"slot_id": created["candidates"][0]["slot_id"]},
    )
    assert picked.status_code == 200
    response = await h.client.post(
        url(created, "/cancel"), json={"reason": "host left"}, headers=h.auth(**ADMIN) | {"If-Match": '"2"'}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_reason"] == "host left"


async def test_the_list_holds_only_the_callers_own(h: Harness) -> None:
    created = await bound(h)
    for who in (MEMBER, ADMIN):
        listed = await h.client.get("/v1/appointments", headers=h.auth(**who))
        assert created["appointment_id"] not in {a["appointment_id"] for a in listed.json()["items"]}
    own = await h.client.get("/v1/appointments", headers=h.auth(**HOST))
    assert [a["appointment_id"] for a in own.json()["items"]] == [created["appointment_id"]]


async def test_free_busy_of_a_reschedule_is_never_the_callers_calendar(h: Harness) -> None:
    """Row 2: the availability check of a change is asked with the host's own token only."""
    created = await bound(h)
    member = h.auth(**MEMBER)
    h.gateway.seen.clear()
    response = await reschedule(h, created, member)
    assert response.status_code == 404
    assert h.gateway.seen == []
    host = h.auth(**HOST)
    assert (await reschedule(h, created, host)).status_code == 200
    assert {bearer for _, _, bearer in h.gateway.seen} == {host["Authorization"].removeprefix("Bearer ")}
