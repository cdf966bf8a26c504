"""Every /v1 route needs a valid JWT; one tenant never sees or changes another's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from auth_testkit import OPERATOR_KEY, PASSWORD, Harness, bearer, link_fake

from auth_service.adapters.signing import SigningKey

PUBLIC_V1 = {"/v1/calendar-connections/{provider}/callback"}  # the single-use state identifies the caller


def _v1_routes(h: Harness) -> list[tuple[str, str]]:
    """From the OpenAPI document, so a route added later is covered without editing this test."""
    paths = h.app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1") and path not in PUBLIC_V1
        for method in operations
    ]


def _concrete(path: str) -> str:
    return path.replace("{provider}", "google").replace("{employee_id}", "someone")


async def test_every_v1_route_is_listed(unit_harness: Harness) -> None:
    assert len(_v1_routes(unit_harness)) >= 9


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer eyJhbGciOiJub25lIiwia2lkIjoieCJ9.eyJzdWIiOiJ4In0.",
    ],
)
async def test_v1_routes_refuse_missing_or_bad_tokens(
    unit_harness: Harness, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in _v1_routes(unit_harness):
        response = await unit_harness.client.request(method, _concrete(path), headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["code"] == "unauthorized"


async def test_tokens_of_another_key_or_expired_are_refused(unit_harness: Harness) -> None:
    claims = {
        "iss": unit_harness.settings.jwt_issuer,
        "aud": unit_harness.settings.jwt_audience,
        "sub": "e",
        "tid": "acme",
        "typ": "employee",
        "role": "admin",
    }
    foreign = SigningKey.generate().sign(claims, now=datetime.now(UTC), ttl=timedelta(minutes=5))
    own = unit_harness.context.signing_key
    expired = own.sign(claims, now=datetime.now(UTC) - timedelta(hours=2), ttl=timedelta(minutes=5))
    for token in (foreign, expired):
        response = await unit_harness.client.get("/v1/employees", headers=bearer(token))
        assert response.status_code == 401


async def test_service_token_cannot_use_employee_routes(unit_harness: Harness) -> None:
    svc = await unit_harness.service_token()
    response = await unit_harness.client.get("/v1/employees", headers=bearer(svc))
    assert response.status_code == 403
    assert response.json()["code"] == "employee_token_required"


async def test_tenant_isolation(unit_harness: Harness) -> None:
    acme_alice, acme_token = await unit_harness.employee("acme", "alice@example.com")
    globex_bob, globex_token = await unit_harness.employee("globex", "bob@example.com")
    globex_admin = await unit_harness.sign_in("globex", "admin@globex.example")
    assert (await link_fake(unit_harness, acme_token)).status_code == 200

    # Reading another tenant's employee: 404, as if it did not exist.
    cross = await unit_harness.client.get(f"/v1/employees/{acme_alice}", headers=bearer(globex_token))
    assert cross.status_code == 404
    assert cross.json()["code"] == "employee_not_found"
    own = await unit_harness.client.get(f"/v1/employees/{globex_bob}", headers=bearer(globex_token))
    assert own.status_code == 200
    listed = await unit_harness.client.get("/v1/employees", headers=bearer(globex_admin))
    assert "alice@example.com" not in {e["email"] for e in listed.json()}

    # Registering always lands in the caller's own tenant.
    created = await unit_harness.client.post(
        "/v1/employees",
        headers=bearer(globex_admin),
        json={"name": "C", "email": "carol@example.com", "tenant_id": "acme"},
    )
    assert created.status_code == 422  # unknown field refused: the tenant comes from the token

    # Globex sees and changes nothing of Acme's connection.
    assert (
        await unit_harness.client.get("/v1/calendar-connections/current", headers=bearer(globex_token))
    ).status_code == 404
    put = await unit_harness.client.put(
        "/v1/calendar-connections/current/room-preference",
        headers=bearer(globex_token),
        json={"room_group_id": "x"},
    )
    assert put.status_code == 404
    assert (
        await unit_harness.client.delete("/v1/calendar-connections/current", headers=bearer(globex_token))
    ).status_code == 404
    acme_current = await unit_harness.client.get(
        "/v1/calendar-connections/current", headers=bearer(acme_token)
    )
    assert acme_current.json()["status"] == "active" and acme_current.json()["room_group_id"] is None


async def test_state_of_one_employee_links_only_that_employee(unit_harness: Harness) -> None:
    _, alice = await unit_harness.employee("acme", "alice@example.com")
    _, bob = await unit_harness.employee("acme", "bob@example.com")
    # The fake provider signs in alice@example.com whoever started; the state says it was Bob.
    response = await link_fake(unit_harness, bob)
    assert response.status_code == 403 and response.json()["code"] == "email_mismatch"
    assert (
        await unit_harness.client.get("/v1/calendar-connections/current", headers=bearer(alice))
    ).status_code == 404


UNSAFE_TEXT = [
    "Visit\r\nX-Injected: 1",
    "a\x00b",
    "\x1b[31mred",
    "evil\u202etxt.exe",
    "\u200b\u200b",
    "\u3164",
]


@pytest.mark.parametrize("text", UNSAFE_TEXT)
async def test_free_text_fields_refuse_unsafe_text_naming_the_field(unit_harness: Harness, text: str) -> None:
    h = unit_harness
    await h.create_tenant("acme", "admin@acme.example")
    admin = bearer(await h.sign_in("acme", "admin@acme.example"))
    tenant = {
        "name": "Globex",
        "admin_name": "G",
        "admin_email": "g@globex.example",
        "admin_password": PASSWORD,
    }
    cases = [
        ("post", "/operator/v1/tenants", {**tenant, "name": text}, {"X-Operator-Key": OPERATOR_KEY}, "name"),
        (
            "post",
            "/operator/v1/tenants",
            {**tenant, "admin_name": text},
            {"X-Operator-Key": OPERATOR_KEY},
            "admin_name",
        ),
        ("post", "/v1/employees", {"name": text, "email": "x@acme.example"}, admin, "name"),
        ("post", "/v1/reception-devices", {"name": text}, admin, "name"),
    ]
    device = await h.client.post("/v1/reception-devices", headers=admin, json={"name": "1F lobby"})
    cases.append(
        ("patch", f"/v1/reception-devices/{device.json()['device_id']}", {"name": text}, admin, "name")
    )
    for method, path, body, headers, field in cases:
        response = await h.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, (path, field, response.text)
        assert field in response.text


async def test_free_text_is_normalized_to_nfc(unit_harness: Harness) -> None:
    h = unit_harness
    await h.create_tenant("acme", "admin@acme.example")
    admin = bearer(await h.sign_in("acme", "admin@acme.example"))
    response = await h.client.post(
        "/v1/employees", headers=admin, json={"name": "Jose\u0301 עברית", "email": "j@acme.example"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Jos\u00e9 עברית"
