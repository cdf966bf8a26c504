"""A full flow at DEBUG level: no access token, refresh token, password or client secret appears
in any log line (as the service writes them, and raw from our own loggers) or any error body."""

from __future__ import annotations

import logging

import pytest
from auth_testkit import GOOGLE_SECRET, MS_SECRET, OPERATOR_KEY, PASSWORD, Harness, bearer

from visitor_common.logging import JsonFormatter


async def test_full_flow_leaks_no_secret(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert harness.emus is not None
    secrets = {PASSWORD, GOOGLE_SECRET, MS_SECRET, OPERATOR_KEY, "svc-secret-google"}
    error_bodies: list[str] = []

    def keep(response_text: str, status: int) -> None:
        if status >= 400:
            error_bodies.append(response_text)

    _, google_token = await harness.employee("acme", "alice@example.com")
    _, ms_token = await harness.employee("acme", "hana@contoso.example")
    secrets.update({google_token, ms_token})
    signed = await harness.client.post(
        "/auth/v1/sign-in", json={"tenant_id": "acme", "email": "alice@example.com", "password": PASSWORD}
    )
    secrets.update({signed.json()["access_token"], signed.json()["refresh_token"]})
    wrong = await harness.client.post(
        "/auth/v1/sign-in",
        json={"tenant_id": "acme", "email": "alice@example.com", "password": PASSWORD + "x"},
    )
    keep(wrong.text, wrong.status_code)

    for provider, token, account in (
        ("google", google_token, "alice@example.com"),
        ("microsoft", ms_token, "hana@contoso.example"),
    ):
        linked = await harness.link(provider, token, account)
        assert linked.status_code == 200
    mismatch = await harness.link("google", ms_token, "bob@example.com")
    keep(mismatch.text, mismatch.status_code)

    svc = await harness.service_token()
    secrets.add(svc)
    connections = await harness.context.repos.connections.find({})
    for connection in connections:
        secrets.add(harness.context.cipher.open(connection.refresh_token, context=connection.id))
    harness.clock.advance(3600)  # force real refreshes through google-auth and MSAL
    svc = await harness.service_token()
    secrets.add(svc)
    for connection in connections:
        grant = await harness.client.post(
            f"/internal/v1/calendar-connections/{connection.id}/access-token", headers=bearer(svc)
        )
        assert grant.status_code == 200, grant.text
        secrets.add(grant.json()["access_token"])
    for connection in await harness.context.repos.connections.find({}):
        secrets.add(harness.context.cipher.open(connection.refresh_token, context=connection.id))
    # A revoked grant (invalid_grant) and an unlink, with their error paths.
    harness.emus.google_control.revoke_user("alice@example.com")
    harness.clock.advance(3600)
    svc = await harness.service_token()
    secrets.add(svc)
    refused = await harness.client.post(
        f"/internal/v1/calendar-connections/{connections[0].id}/access-token", headers=bearer(svc)
    )
    keep(refused.text, refused.status_code)
    unlinked = await harness.client.delete("/v1/calendar-connections/current", headers=bearer(ms_token))
    assert unlinked.status_code == 200
    bad_client = await harness.client.post(
        "/internal/v1/service-token",
        data={
            "grant_type": "client_credentials",
            "client_id": "calendar-google",
            "client_secret": GOOGLE_SECRET,
        },
    )
    keep(bad_client.text, bad_client.status_code)

    formatter = JsonFormatter("auth")
    lines = [formatter.format(record) for record in caplog.records]
    own = [r.getMessage() + str(r.__dict__) for r in caplog.records if r.name.startswith("auth_service")]
    assert len(lines) > 5 and error_bodies
    secrets.discard("")
    for secret in secrets:
        for text in (*lines, *own, *error_bodies):
            assert secret not in text, f"a secret leaked into: {text[:300]}"
