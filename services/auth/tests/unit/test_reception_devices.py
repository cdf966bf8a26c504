"""Reception devices: registration by a tenant administrator, the token exchange, revocation,
and the throttling of guessed credentials."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from auth_testkit import Harness, bearer

from auth_service.service_layer.throttle import FailureThrottle
from visitor_common.security import PrincipalKind


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def admin_token(h: Harness, tenant: str = "acme") -> str:
    _, token = await h.employee(tenant, f"admin@{tenant}.example")
    return token


async def register(h: Harness, token: str, name: str = "1F lobby") -> dict[str, Any]:
    response = await h.client.post("/v1/reception-devices", headers=bearer(token), json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def exchange(h: Harness, client_id: str, secret: str) -> httpx.Response:
    return await h.client.post(
        "/auth/v1/reception-token", json={"client_id": client_id, "client_secret": secret}
    )


async def test_admin_registers_a_device_whose_secret_is_shown_once_and_stored_hashed(
    unit_harness: Harness,
) -> None:
    token = await admin_token(unit_harness)
    device = await register(unit_harness, token)
    assert device["name"] == "1F lobby" and device["revoked_at"] is None
    assert (
        device["device_id"] and device["client_id"].startswith("rcp_") and len(device["client_secret"]) >= 40
    )
    stored = await unit_harness.context.repos.reception_devices.collection.get(device["device_id"])
    assert device["client_secret"] not in str(stored)
    assert stored["secret_hash"].startswith("$argon2id$")
    listed = await unit_harness.client.get("/v1/reception-devices", headers=bearer(token))
    assert listed.status_code == 200
    assert [d["device_id"] for d in listed.json()["items"]] == [device["device_id"]]
    assert "client_secret" not in listed.json()["items"][0]


async def test_the_device_token_is_a_short_lived_reception_token_without_employee_rights(
    unit_harness: Harness,
) -> None:
    device = await register(unit_harness, await admin_token(unit_harness))
    response = await exchange(unit_harness, device["client_id"], device["client_secret"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 300 and body["token_type"] == "Bearer"
    principal = await unit_harness.app.state.verifier.verify(body["access_token"])
    assert principal.kind is PrincipalKind.RECEPTION
    assert principal.role == "reception" and principal.tenant_id == "acme"
    assert principal.device_id == device["device_id"] and principal.email is None
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 300
    for path in ("/v1/me", "/v1/employees", "/v1/reception-devices", "/v1/calendar-connections"):
        refused = await unit_harness.client.get(path, headers=bearer(body["access_token"]))
        assert refused.status_code == 403, path
        assert refused.json()["code"] == "employee_token_required"


async def test_members_may_not_manage_devices(unit_harness: Harness) -> None:
    device = await register(unit_harness, await admin_token(unit_harness))
    _, member = await unit_harness.employee("acme", "bob@acme.example")
    path = f"/v1/reception-devices/{device['device_id']}"
    attempts = [
        unit_harness.client.post("/v1/reception-devices", headers=bearer(member), json={"name": "x"}),
        unit_harness.client.get("/v1/reception-devices", headers=bearer(member)),
        unit_harness.client.patch(path, headers=bearer(member), json={"name": "x"}),
        unit_harness.client.delete(path, headers=bearer(member)),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 403 and response.json()["code"] == "admin_role_required"


async def test_another_tenants_devices_are_not_found(unit_harness: Harness) -> None:
    device = await register(unit_harness, await admin_token(unit_harness, "acme"))
    other = await admin_token(unit_harness, "globex")
    path = f"/v1/reception-devices/{device['device_id']}"
    assert (
        await unit_harness.client.patch(path, headers=bearer(other), json={"name": "x"})
    ).status_code == 404
    deleted = await unit_harness.client.delete(path, headers=bearer(other))
    assert deleted.status_code == 404 and deleted.json()["code"] == "reception_device_not_found"
    listed = await unit_harness.client.get("/v1/reception-devices", headers=bearer(other))
    assert listed.json()["items"] == []
    # ... and the device still works for its own tenant.
    assert (await exchange(unit_harness, device["client_id"], device["client_secret"])).status_code == 200


async def test_rename(unit_harness: Harness) -> None:
    token = await admin_token(unit_harness)
    device = await register(unit_harness, token)
    path = f"/v1/reception-devices/{device['device_id']}"
    renamed = await unit_harness.client.patch(path, headers=bearer(token), json={"name": "2F east"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "2F east"
    listed = await unit_harness.client.get("/v1/reception-devices", headers=bearer(token))
    assert listed.json()["items"][0]["name"] == "2F east"
    empty = await unit_harness.client.patch(path, headers=bearer(token), json={"name": ""})
    assert empty.status_code == 422


async def test_revoking_stops_the_exchange(unit_harness: Harness) -> None:
    token = await admin_token(unit_harness)
    device = await register(unit_harness, token)
    issued = await exchange(unit_harness, device["client_id"], device["client_secret"])
    assert issued.status_code == 200
    path = f"/v1/reception-devices/{device['device_id']}"
    assert (await unit_harness.client.delete(path, headers=bearer(token))).status_code == 204
    assert (await unit_harness.client.delete(path, headers=bearer(token))).status_code == 204  # idempotent
    refused = await exchange(unit_harness, device["client_id"], device["client_secret"])
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_device_credentials"
    listed = await unit_harness.client.get("/v1/reception-devices", headers=bearer(token))
    assert listed.json()["items"][0]["revoked_at"] is not None


async def test_wrong_and_unknown_credentials_are_the_same_401(unit_harness: Harness) -> None:
    device = await register(unit_harness, await admin_token(unit_harness))
    wrong = await exchange(unit_harness, device["client_id"], "not-the-secret")
    unknown = await exchange(unit_harness, "rcp_nobody", device["client_secret"])
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_device_credentials"
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_guessing_meets_a_growing_429_even_for_the_right_secret(unit_harness: Harness) -> None:
    clock = FakeMonotonic()
    unit_harness.context.reception_throttle = FailureThrottle(
        max_failures=3, base_lockout=30, max_lockout=900, clock=clock
    )
    device = await register(unit_harness, await admin_token(unit_harness))
    for _ in range(3):
        assert (await exchange(unit_harness, device["client_id"], "guess")).status_code == 401
    locked = await exchange(unit_harness, device["client_id"], device["client_secret"])
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    assert int(locked.headers["retry-after"]) == 30
    clock.now += 31
    assert (await exchange(unit_harness, device["client_id"], "guess")).status_code == 401
    again = await exchange(unit_harness, device["client_id"], "guess")
    assert again.status_code == 429 and int(again.headers["retry-after"]) == 60  # doubled
    clock.now += 61
    assert (await exchange(unit_harness, device["client_id"], device["client_secret"])).status_code == 200


async def test_guessing_across_client_ids_is_limited_per_address(unit_harness: Harness) -> None:
    clock = FakeMonotonic()
    unit_harness.context.reception_throttle = FailureThrottle(max_failures=3, clock=clock)
    for i in range(3):
        assert (await exchange(unit_harness, f"rcp_guess{i}", "guess")).status_code == 401
    assert (await exchange(unit_harness, "rcp_guess9", "guess")).status_code == 429


def test_throttle_counts_afresh_after_a_quiet_period_and_clears_on_success() -> None:
    clock = FakeMonotonic()
    throttle = FailureThrottle(max_failures=2, base_lockout=10, max_lockout=100, clock=clock)
    throttle.failed(["k"])
    assert throttle.retry_after(["k"]) == 0
    throttle.failed(["k"])
    assert throttle.retry_after(["k"]) == 10
    clock.now += 500
    throttle.failed(["k"])
    assert throttle.retry_after(["k"]) == 0  # the old failures were forgotten
    throttle.failed(["k"])
    throttle.succeeded("k")
    assert throttle.retry_after(["k"]) == 0


def test_throttle_lockout_is_capped() -> None:
    clock = FakeMonotonic()
    throttle = FailureThrottle(max_failures=1, base_lockout=10, max_lockout=60, clock=clock)
    for _ in range(10):
        throttle.failed(["k"])
    assert throttle.retry_after(["k"]) == 60


@pytest.mark.parametrize("body", [{}, {"client_id": "x"}, {"client_id": "", "client_secret": "y"}])
async def test_malformed_exchange_is_422(unit_harness: Harness, body: dict[str, str]) -> None:
    response = await unit_harness.client.post("/auth/v1/reception-token", json=body)
    assert response.status_code == 422


async def test_the_device_secret_and_token_are_never_logged(
    unit_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    device = await register(unit_harness, await admin_token(unit_harness))
    issued = await exchange(unit_harness, device["client_id"], device["client_secret"])
    await exchange(unit_harness, device["client_id"], "wrong")
    assert device["client_secret"] not in caplog.text
    assert issued.json()["access_token"] not in caplog.text
