"""Rotating the token-encryption key (docs/runbook.md): add the new key, make it active, and
refresh tokens sealed with the old one still open; each is re-sealed with the new key on its
next use, after which the old key can go."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from auth_testkit import (
    OPERATOR_KEY,
    SERVICE_CLIENT,
    SERVICE_URL,
    FakeProvider,
    Harness,
    MutableClock,
    bearer,
    link_fake,
)

from auth_service.adapters.crypto import TokenCipher, TokenCipherError
from auth_service.bootstrap import create_app
from auth_service.domain.models import EncryptedSecret
from auth_service.settings import Settings
from visitor_common.events import Provider
from visitor_common.outbox import OutboxEntry
from visitor_common.persistence.memory import InMemoryDocumentStore

OLD = base64.b64encode(b"o" * 32).decode()
NEW = base64.b64encode(b"n" * 32).decode()


@asynccontextmanager
async def auth_service(
    store: InMemoryDocumentStore, keys: dict[str, str], active: str, clock: MutableClock, google: FakeProvider
) -> AsyncIterator[Harness]:
    """One run of the service over ``store``, configured with ``keys`` as an operator would."""
    published: list[OutboxEntry] = []

    async def publish(entry: OutboxEntry) -> None:
        published.append(entry)

    settings = Settings(
        public_base_url=SERVICE_URL,
        kafka_enabled=False,
        operator_key=OPERATOR_KEY,
        service_clients=SERVICE_CLIENT,
        token_encryption_keys=keys,
        token_encryption_active_kid=active,
    )
    app = create_app(settings, store=store, publish=publish, clock=clock, providers={Provider.GOOGLE: google})
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=SERVICE_URL) as client,
    ):
        yield Harness(client, app, settings, clock, None, None, published)


async def sealed_refresh_token(h: Harness, employee_id: str) -> EncryptedSecret:
    connection = await h.context.repos.connections.active_for("acme", employee_id)
    assert connection is not None and connection.refresh_token is not None
    return connection.refresh_token


async def access_token(h: Harness, connection_id: str) -> httpx.Response:
    svc = await h.service_token()
    return await h.client.post(
        f"/internal/v1/calendar-connections/{connection_id}/access-token", headers=bearer(svc)
    )


async def test_a_rotated_key_still_opens_old_tokens_and_reseals_them(
    clock: MutableClock, fake_google: FakeProvider
) -> None:
    store = InMemoryDocumentStore()
    async with auth_service(store, {"old": OLD}, "old", clock, fake_google) as before:
        employee_id, token = await before.employee("acme", "alice@example.com")
        assert (await link_fake(before, token)).status_code == 200
        current = await before.client.get("/v1/calendar-connections/current", headers=bearer(token))
        connection_id = str(current.json()["connection_id"])
        assert (await sealed_refresh_token(before, employee_id)).kid == "old"

    # step 1 of the runbook: both keys configured, the new one active
    async with auth_service(store, {"old": OLD, "new": NEW}, "new", clock, fake_google) as rotated:
        clock.advance(7200)  # past the cached access token: the refresh token must be opened
        refreshes = fake_google.refreshes
        response = await access_token(rotated, connection_id)
        assert response.status_code == 200, response.text
        assert fake_google.refreshes == refreshes + 1  # the old-key token opened and was used
        assert (await sealed_refresh_token(rotated, employee_id)).kid == "new"  # re-sealed on use

    # step 2: the old key removed once nothing is sealed with it
    async with auth_service(store, {"new": NEW}, "new", clock, fake_google) as after:
        clock.advance(7200)
        response = await access_token(after, connection_id)
        assert response.status_code == 200, response.text


def test_a_token_sealed_with_a_removed_key_does_not_open() -> None:
    """Why step 2 waits: without the old key an old token is unreadable (the owner re-links)."""
    old = TokenCipher.from_config({"old": OLD}, "old")
    secret = old.seal("refresh-token", context="conn-1")
    rotated = TokenCipher.from_config({"old": OLD, "new": NEW}, "new")
    assert rotated.open(secret, context="conn-1") == "refresh-token"
    assert rotated.needs_rotation(secret) and not rotated.needs_rotation(rotated.seal("x", "conn-1"))
    with pytest.raises(TokenCipherError):
        TokenCipher.from_config({"new": NEW}, "new").open(secret, context="conn-1")
