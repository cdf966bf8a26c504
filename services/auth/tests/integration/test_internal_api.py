"""The connectors' token API (contracts/connections.py) against the emulators."""

from __future__ import annotations

import asyncio

from auth_testkit import Harness, bearer

from visitor_common.contracts.connections import AccessTokenGrant, ConnectionInfo


async def _linked(h: Harness, provider: str, email: str) -> tuple[str, str, str]:
    employee_id, token = await h.employee("acme", email)
    assert (await h.link(provider, token, email)).status_code == 200
    current = await h.client.get("/v1/calendar-connections/current", headers=bearer(token))
    return employee_id, token, str(current.json()["connection_id"])


async def _grant(h: Harness, svc: str, connection_id: str) -> AccessTokenGrant:
    response = await h.client.post(
        f"/internal/v1/calendar-connections/{connection_id}/access-token", headers=bearer(svc)
    )
    assert response.status_code == 200, response.text
    return AccessTokenGrant.model_validate(response.json())


async def test_lookups_follow_the_contract(harness: Harness) -> None:
    employee_id, _, connection_id = await _linked(harness, "google", "alice@example.com")
    svc = await harness.service_token()
    by_employee = await harness.client.get(
        f"/internal/v1/tenants/acme/employees/{employee_id}/calendar-connection", headers=bearer(svc)
    )
    info = ConnectionInfo.model_validate(by_employee.json())
    assert info.connection_id == connection_id and info.provider == "google"
    assert info.tenant_id == "acme" and info.status == "active"
    by_id = await harness.client.get(
        f"/internal/v1/calendar-connections/{connection_id}", headers=bearer(svc)
    )
    assert ConnectionInfo.model_validate(by_id.json()) == info
    other_tenant = await harness.client.get(
        f"/internal/v1/tenants/other/employees/{employee_id}/calendar-connection", headers=bearer(svc)
    )
    assert other_tenant.status_code == 404
    assert other_tenant.json()["code"] == "no_active_connection"
    unknown = await harness.client.get("/internal/v1/calendar-connections/nope", headers=bearer(svc))
    assert unknown.status_code == 404


async def test_google_token_is_cached_then_refreshed_once_for_many_callers(harness: Harness) -> None:
    assert harness.emus is not None
    _, _, connection_id = await _linked(harness, "google", "alice@example.com")
    svc = await harness.service_token()
    before = harness.emus.google_control.requests().get("POST /token", 0)
    first = await _grant(harness, svc, connection_id)
    assert first.access_token.startswith("ya29.")
    assert harness.emus.google_control.requests().get("POST /token", 0) == before  # from the link
    harness.clock.advance(3600)  # past expiry: the cached token must not be handed out
    grants = await asyncio.gather(*(_grant(harness, svc, connection_id) for _ in range(20)))
    assert harness.emus.google_control.requests().get("POST /token", 0) == before + 1
    assert len({g.access_token for g in grants}) == 1
    assert grants[0].access_token != first.access_token


async def test_microsoft_rotated_refresh_token_is_kept(harness: Harness) -> None:
    _, _, connection_id = await _linked(harness, "microsoft", "hana@contoso.example")
    svc = await harness.service_token()
    seen = set()
    for _ in range(3):  # the emulator revokes each refresh token once used: rotation must stick
        harness.clock.advance(3600)
        seen.add((await _grant(harness, svc, connection_id)).access_token)
    assert len(seen) == 3


async def test_google_invalid_grant_marks_reauth_required(harness: Harness) -> None:
    assert harness.emus is not None
    _, token, connection_id = await _linked(harness, "google", "alice@example.com")
    svc = await harness.service_token()  # signed on the test clock: take it before advancing it
    harness.emus.google_control.revoke_user("alice@example.com")
    harness.clock.advance(3600)
    response = await harness.client.post(
        f"/internal/v1/calendar-connections/{connection_id}/access-token", headers=bearer(svc)
    )
    assert response.status_code == 409
    assert response.json()["code"] == "reauth_required"
    assert "もう一度連携" in response.json()["detail"]
    current = await harness.client.get("/v1/calendar-connections/current", headers=bearer(token))
    assert current.json()["status"] == "reauth_required"
    assert (await harness.event_types())[-1] == "CalendarConnectionReauthRequired"
    # Linking again restores the same connection.
    assert (await harness.link("google", token, "alice@example.com")).status_code == 200
    assert (await _grant(harness, svc, connection_id)).access_token


async def test_microsoft_invalid_grant_marks_reauth_required(harness: Harness) -> None:
    assert harness.emus is not None
    _, _, connection_id = await _linked(harness, "microsoft", "hana@contoso.example")
    svc = await harness.service_token()
    harness.emus.ms_control.revoke_grants(user="hana@contoso.example")
    harness.clock.advance(3600)
    response = await harness.client.post(
        f"/internal/v1/calendar-connections/{connection_id}/access-token", headers=bearer(svc)
    )
    assert response.status_code == 409
    assert response.json()["code"] == "reauth_required"


async def test_a_forced_refresh_replaces_a_token_the_provider_rejects(harness: Harness) -> None:
    assert harness.emus is not None
    _, _, connection_id = await _linked(harness, "microsoft", "hana@contoso.example")
    svc = await harness.service_token()
    first = await _grant(harness, svc, connection_id)
    assert (await _grant(harness, svc, connection_id)).access_token == first.access_token  # cached
    harness.emus.ms_control.expire_access_tokens(user="hana@contoso.example")  # early, at the provider
    url = f"/internal/v1/calendar-connections/{connection_id}/access-token?force_refresh=true"
    forced = await harness.client.post(url, headers=bearer(svc))
    assert forced.status_code == 200, forced.text
    assert AccessTokenGrant.model_validate(forced.json()).access_token != first.access_token


async def test_refresh_while_provider_down_is_503_not_500(harness: Harness) -> None:
    assert harness.emus is not None
    _, _, connection_id = await _linked(harness, "microsoft", "hana@contoso.example")
    svc = await harness.service_token()
    harness.emus.ms_control.add_fault(r"/token$", status=500, count=10)
    harness.clock.advance(3600)
    response = await harness.client.post(
        f"/internal/v1/calendar-connections/{connection_id}/access-token", headers=bearer(svc)
    )
    assert response.status_code in (502, 503)
    assert response.json()["code"] == "provider_unavailable"


async def test_internal_api_needs_a_service_credential(harness: Harness) -> None:
    _, employee_token = await harness.employee("acme", "alice@example.com")
    url = "/internal/v1/calendar-connections/x"
    assert (await harness.client.get(url)).status_code == 401
    forbidden = await harness.client.get(url, headers=bearer(employee_token))
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "service_token_required"
    bad = await harness.client.post(
        "/internal/v1/service-token",
        data={"grant_type": "client_credentials", "client_id": "calendar-google", "client_secret": "wrong"},
    )
    assert bad.status_code == 401 and bad.json()["code"] == "invalid_client"
    unknown = await harness.client.post(
        "/internal/v1/service-token",
        data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
    )
    assert unknown.status_code == 401
    grant_type = await harness.client.post(
        "/internal/v1/service-token",
        data={"grant_type": "password", "client_id": "calendar-google", "client_secret": "svc-secret-google"},
    )
    assert grant_type.status_code == 400 and grant_type.json()["code"] == "unsupported_grant_type"
