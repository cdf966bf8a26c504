"""The auth-service token client against a fake internal API (httpx MockTransport)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from calendar_sync.core import AuthServiceUnavailable, ConnectionInactive, ReauthRequired
from calendar_sync.engine import AuthTokenClient


class FakeAuth:
    def __init__(self) -> None:
        self.service_tokens = 0
        self.grants = 0
        self.reject_next_service_call = False
        self.status: dict[str, str] = {}
        self.seen_force: list[bool] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/internal/v1/service-token":
            body = dict(httpx.QueryParams(request.content.decode()))
            if body.get("client_secret") != "s3cret":
                return httpx.Response(401, json={"code": "invalid_client"})
            self.service_tokens += 1
            return httpx.Response(
                200, json={"access_token": f"svc-{self.service_tokens}", "expires_in": 3600}
            )
        if not request.headers.get("authorization", "").startswith("Bearer svc-"):
            return httpx.Response(401, json={"code": "unauthorized"})
        if self.reject_next_service_call:
            self.reject_next_service_call = False
            return httpx.Response(401, json={"code": "unauthorized"})
        connection = path.split("/")[4] if "/calendar-connections/" in path else ""
        if self.status.get(connection) == "reauth":
            return httpx.Response(409, json={"code": "reauth_required", "detail": "Link Google again."})
        if self.status.get(connection) == "gone":
            return httpx.Response(404, json={"code": "not_found"})
        if path.endswith("/access-token"):
            self.grants += 1
            self.seen_force.append(request.url.params.get("force_refresh") == "true")
            expires = datetime.now(UTC) + timedelta(hours=1)
            return httpx.Response(
                200,
                json={
                    "connection_id": connection,
                    "provider": "google",
                    "access_token": f"ya29.{self.grants}",
                    "expires_at": expires.isoformat(),
                },
            )
        if path.endswith("/calendar-connection"):
            return httpx.Response(404, json={"code": "no_active_connection"})
        return httpx.Response(500)


def client(fake: FakeAuth) -> AuthTokenClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    return AuthTokenClient("http://auth", "calendar-google", "s3cret", http=http)


async def test_tokens_are_cached_and_refreshed_on_demand() -> None:
    fake = FakeAuth()
    tokens = client(fake)
    first = await tokens.access_token("c1")
    assert (await tokens.access_token("c1")).access_token == first.access_token
    refreshed = await tokens.access_token("c1", force_refresh=True)
    assert refreshed.access_token != first.access_token
    assert fake.service_tokens == 1 and fake.seen_force == [False, True]


async def test_an_expired_service_token_is_renewed_once() -> None:
    fake = FakeAuth()
    tokens = client(fake)
    await tokens.access_token("c1")
    fake.reject_next_service_call = True
    await tokens.access_token("c1", force_refresh=True)
    assert fake.service_tokens == 2


async def test_reauth_required_and_missing_connections() -> None:
    fake = FakeAuth()
    fake.status = {"c1": "reauth", "c2": "gone"}
    tokens = client(fake)
    with pytest.raises(ReauthRequired, match="Link Google again"):
        await tokens.access_token("c1")
    with pytest.raises(ConnectionInactive):
        await tokens.access_token("c2")
    assert await tokens.connection_for_employee("t1", "e1") is None


async def test_an_unreachable_auth_service_is_retriable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    tokens = AuthTokenClient(
        "http://auth", "x", "y", http=httpx.AsyncClient(transport=httpx.MockTransport(down))
    )
    with pytest.raises(AuthServiceUnavailable) as caught:
        await tokens.access_token("c1")
    assert caught.value.retriable


async def test_concurrent_callers_share_one_grant_request() -> None:
    import asyncio

    fake = FakeAuth()
    tokens = client(fake)
    grants = await asyncio.gather(*(tokens.access_token("c1") for _ in range(5)))
    assert len({g.access_token for g in grants}) == 1 and fake.grants == 1
    stale = grants[0]
    refreshed = await asyncio.gather(*(tokens.access_token("c1", force_refresh=True) for _ in range(3)))
    assert all(g.access_token != stale.access_token for g in refreshed)
