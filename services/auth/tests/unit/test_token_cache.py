"""The internal token API's cache, per-connection lock and invalid_grant handling (fake provider)."""

from __future__ import annotations

import asyncio

from auth_testkit import FakeProvider, Harness, bearer, link_fake

from auth_service.adapters.providers import InvalidGrant


async def _connection(h: Harness) -> tuple[str, str]:
    _, token = await h.employee("acme", "alice@example.com")
    assert (await link_fake(h, token)).status_code == 200
    current = await h.client.get("/v1/calendar-connections/current", headers=bearer(token))
    return token, str(current.json()["connection_id"])


async def _grant(h: Harness, svc: str, connection_id: str) -> dict[str, object]:
    response = await h.client.post(
        f"/internal/v1/calendar-connections/{connection_id}/access-token", headers=bearer(svc)
    )
    body: dict[str, object] = response.json()
    body["status"] = response.status_code
    return body


async def test_link_token_is_served_from_cache(unit_harness: Harness, fake_google: FakeProvider) -> None:
    _, connection_id = await _connection(unit_harness)
    svc = await unit_harness.service_token()
    grant = await _grant(unit_harness, svc, connection_id)
    assert grant["access_token"] == "at-link"
    assert fake_google.refreshes == 0


async def test_refresh_shortly_before_expiry_and_once_for_many(
    unit_harness: Harness, fake_google: FakeProvider
) -> None:
    _, connection_id = await _connection(unit_harness)
    svc = await unit_harness.service_token()
    unit_harness.clock.advance(3600 - 60)  # inside the refresh margin (120 s): renew now
    grants = await asyncio.gather(*(_grant(unit_harness, svc, connection_id) for _ in range(50)))
    assert fake_google.refreshes == 1
    assert {g["access_token"] for g in grants} == {"at-1"}


async def test_invalid_grant_marks_reauth_required_once(
    unit_harness: Harness, fake_google: FakeProvider
) -> None:
    token, connection_id = await _connection(unit_harness)
    svc = await unit_harness.service_token()
    fake_google.invalid_grant = True
    unit_harness.clock.advance(3600)
    grants = await asyncio.gather(*(_grant(unit_harness, svc, connection_id) for _ in range(10)))
    assert {g["status"] for g in grants} == {409}
    assert {g["code"] for g in grants} == {"reauth_required"}
    assert fake_google.refreshes == 1
    assert (await unit_harness.event_types()).count("CalendarConnectionReauthRequired") == 1
    current = await unit_harness.client.get("/v1/calendar-connections/current", headers=bearer(token))
    assert current.json()["status"] == "reauth_required"


async def test_refresh_token_is_encrypted_at_rest(unit_harness: Harness) -> None:
    _, connection_id = await _connection(unit_harness)
    raw = await unit_harness.context.repos.connections.collection.get(connection_id)
    assert "rt-secret-1" not in str(raw)
    assert raw["refresh_token"]["kid"] == "k1"


async def test_token_rotated_by_another_replica_is_retried_not_reauth(
    unit_harness: Harness, fake_google: FakeProvider
) -> None:
    _, connection_id = await _connection(unit_harness)
    svc = await unit_harness.service_token()
    repo = unit_harness.context.repos.connections
    cipher = unit_harness.context.cipher
    stale = await repo.get(connection_id)
    # Another replica refreshed meanwhile and stored the provider's rotated refresh token.
    rotated = await repo.get(connection_id)
    rotated.rotate_token(cipher.seal("rt-secret-2", context=connection_id), unit_harness.clock())
    await repo.save(rotated)
    unit_harness.context.access_tokens.forget(connection_id)

    calls: list[str] = []
    original = fake_google.refresh

    async def refresh(refresh_token: str) -> object:
        calls.append(refresh_token)
        if refresh_token == "rt-secret-1":
            raise InvalidGrant()
        return await original(refresh_token)

    fake_google.refresh = refresh  # type: ignore[method-assign]
    assert stale is not None
    from auth_service.service_layer import connections

    token = await connections._refresh(unit_harness.context, stale)
    assert token.token.startswith("at-")
    assert calls == ["rt-secret-1", "rt-secret-2"]
    assert (await repo.get(connection_id)).status == "active"
    assert (await _grant(unit_harness, svc, connection_id))["status"] == 200


async def test_refresh_reseals_with_the_new_active_key(unit_harness: Harness) -> None:
    import base64

    from auth_service.adapters.crypto import TokenCipher

    _, connection_id = await _connection(unit_harness)
    svc = await unit_harness.service_token()
    keys = {"k1": base64.b64encode(b"k" * 32).decode(), "k2": base64.b64encode(b"n" * 32).decode()}
    unit_harness.context.cipher = TokenCipher.from_config(keys, "k2")  # operator rotated the key
    unit_harness.clock.advance(3600)
    assert (await _grant(unit_harness, svc, connection_id))["status"] == 200
    raw = await unit_harness.context.repos.connections.collection.get(connection_id)
    assert raw["refresh_token"]["kid"] == "k2"


async def test_unconfigured_provider_is_explained_not_500(unit_harness: Harness) -> None:
    _, token = await unit_harness.employee("acme", "alice@example.com")
    response = await unit_harness.client.post(
        "/v1/calendar-connections/microsoft/authorize", headers=bearer(token)
    )
    assert response.status_code == 503
    assert response.json()["code"] == "provider_not_configured"
