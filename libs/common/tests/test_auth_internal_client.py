"""The client of auth's internal API against a fake of it (httpx MockTransport)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from visitor_common.contracts.auth_internal_client import (
    AuthInternalClient,
    AuthRequestRefused,
    AuthUnavailable,
    ConnectionNotUsable,
    path_segment,
)
from visitor_common.events import Provider

PREFIX = "/internal/v1"


def connection_body(connection_id: str, status: str = "active") -> dict[str, str]:
    return {
        "connection_id": connection_id,
        "tenant_id": "t1",
        "employee_id": "e1",
        "provider": "google",
        "account_email": "host@example.co.jp",
        "status": status,
        "linked_at": "2030-01-01T00:00:00Z",
    }


class FakeAuth:
    """The internal API: ``c1`` active, ``c2`` inactive; ``status`` makes a connection answer
    ``reauth`` (409 reauth_required), ``inactive`` (409 connection_inactive) or ``gone`` (404)."""

    def __init__(self, *, token_lifetime: int = 3600) -> None:
        self.requests: list[httpx.Request] = []
        self.service_tokens = 0
        self.grants = 0
        self.token_lifetime = token_lifetime
        self.reject_next_service_call = False
        self.status: dict[str, str] = {}
        self.seen_force: list[bool] = []

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(0)  # a real server answers later: let concurrent callers interleave
        path = request.url.path.removeprefix(PREFIX)
        if path == "/service-token":
            return self.service_token(dict(httpx.QueryParams(request.content.decode())))
        if not request.headers.get("authorization", "").startswith("Bearer svc-"):
            return httpx.Response(401, json={"code": "unauthorized"})
        if self.reject_next_service_call:
            self.reject_next_service_call = False
            return httpx.Response(401, json={"code": "unauthorized"})
        if path == "/tenants/t1/employees/e1/calendar-connection":
            return httpx.Response(200, json=connection_body("c1"))
        if path.endswith("/calendar-connection"):
            return httpx.Response(404, json={"code": "no_active_connection"})
        return self.connection(request, path.removeprefix("/calendar-connections/").split("/"))

    def service_token(self, form: dict[str, str]) -> httpx.Response:
        if form.get("client_secret") != "s3cret" or form.get("grant_type") != "client_credentials":
            return httpx.Response(401, json={"code": "invalid_client"})
        self.service_tokens += 1
        token = {"access_token": f"svc-{self.service_tokens}", "expires_in": self.token_lifetime}
        return httpx.Response(200, json=token)

    def connection(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        connection_id = parts[0]
        status = self.status.get(connection_id)
        if status == "gone" or connection_id not in {"c1", "c2"}:
            return httpx.Response(404, json={"code": "connection_not_found"})
        if parts[1:] == []:
            return httpx.Response(
                200, json=connection_body(connection_id, "inactive" if connection_id == "c2" else "active")
            )
        if status == "reauth":
            return httpx.Response(409, json={"code": "reauth_required", "detail": "Link Google again."})
        if status == "inactive":
            return httpx.Response(409, json={"code": "connection_inactive", "title": "Not active."})
        self.grants += 1
        self.seen_force.append(request.url.params.get("force_refresh") == "true")
        expires = datetime.now(UTC) + timedelta(seconds=self.token_lifetime)
        grant = {
            "connection_id": connection_id,
            "provider": "google",
            "access_token": f"ya29.{self.grants}",
            "expires_at": expires.isoformat(),
        }
        return httpx.Response(200, json=grant)

    def service_token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/service-token")]


def client(fake: FakeAuth, secret: str = "s3cret", **options: Any) -> AuthInternalClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    return AuthInternalClient("http://auth/", "calendar-google", secret, http=http, **options)


# ---------------------------------------------------------------- service token


async def test_one_service_token_by_client_credentials_serves_every_call() -> None:
    fake = FakeAuth()
    auth = client(fake)
    active = await auth.active_connection("t1", "e1")
    assert active is not None and active.provider is Provider.GOOGLE
    bound = await auth.connection("c2")
    assert bound is not None and bound.status.value == "inactive"
    await auth.access_token("c1")
    (token_request,) = fake.service_token_requests()
    form = dict(httpx.QueryParams(token_request.content.decode()))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "calendar-google",
        "client_secret": "s3cret",
    }
    assert all(r.headers["authorization"] == "Bearer svc-1" for r in fake.requests if r is not token_request)


async def test_a_rejected_service_token_is_renewed_once() -> None:
    fake = FakeAuth()
    auth = client(fake)
    await auth.access_token("c1")
    fake.reject_next_service_call = True
    await auth.access_token("c1", force_refresh=True)
    assert fake.service_tokens == 2
    assert fake.requests[-1].headers["authorization"] == "Bearer svc-2"


async def test_the_service_token_is_fetched_again_shortly_before_it_expires() -> None:
    now = [1000.0]
    fake = FakeAuth(token_lifetime=300)
    auth = client(fake, clock=lambda: now[0], margin_seconds=60)
    await auth.connection("c1")
    now[0] += 200
    await auth.connection("c1")
    assert fake.service_tokens == 1
    now[0] += 50  # 250 s of 300: inside the margin
    await auth.connection("c1")
    assert fake.service_tokens == 2


async def test_a_refused_service_credential_is_not_retriable() -> None:
    auth = client(FakeAuth(), secret="wrong")
    with pytest.raises(AuthRequestRefused) as caught:
        await auth.connection("c1")
    assert caught.value.status == 401 and not caught.value.retriable


# ---------------------------------------------------------------- lookups


async def test_missing_connections_are_none() -> None:
    auth = client(FakeAuth())
    assert await auth.active_connection("t1", "e2") is None
    assert await auth.connection("nope") is None


@pytest.mark.parametrize("connection_id", ["a/b?c=d", "../../admin", "..", "x#y", "%2F"])
async def test_every_id_stays_one_path_segment(connection_id: str) -> None:
    fake = FakeAuth()
    auth = client(fake)
    assert await auth.connection(connection_id) is None
    with pytest.raises(ConnectionNotUsable):
        await auth.access_token(connection_id)
    await auth.active_connection(connection_id, connection_id)
    lookup, grant, employee = (r.url.raw_path.decode() for r in fake.requests[-3:])
    segment = path_segment(connection_id)
    assert "/" not in segment and "?" not in segment
    assert lookup == f"{PREFIX}/calendar-connections/{segment}"
    assert grant == f"{PREFIX}/calendar-connections/{segment}/access-token"
    assert employee == f"{PREFIX}/tenants/{segment}/employees/{segment}/calendar-connection"


def test_a_path_segment_decodes_back_to_the_id() -> None:
    from urllib.parse import unquote

    for value in ["a/b?c=d", "..", ".", "ü", "%41"]:
        assert unquote(path_segment(value)) == value


# ---------------------------------------------------------------- access tokens


async def test_access_tokens_are_cached_and_refreshed_on_demand() -> None:
    fake = FakeAuth()
    auth = client(fake)
    first = await auth.access_token("c1")
    assert (await auth.access_token("c1")).access_token == first.access_token
    refreshed = await auth.access_token("c1", force_refresh=True)
    assert refreshed.access_token != first.access_token
    assert fake.service_tokens == 1 and fake.seen_force == [False, True]
    auth.forget("c1")
    assert (await auth.access_token("c1")).access_token != refreshed.access_token


async def test_an_access_token_about_to_expire_is_fetched_again() -> None:
    fake = FakeAuth(token_lifetime=100)
    auth = client(fake, margin_seconds=60)
    first = await auth.access_token("c1")
    assert (await auth.access_token("c1")).access_token == first.access_token
    fake.token_lifetime = 30  # shorter than the margin: never served from the cache
    short = await auth.access_token("c1", force_refresh=True)
    assert (await auth.access_token("c1")).access_token != short.access_token


async def test_concurrent_callers_share_one_grant_request() -> None:
    fake = FakeAuth()
    auth = client(fake)
    grants = await asyncio.gather(*(auth.access_token("c1") for _ in range(5)))
    assert len({g.access_token for g in grants}) == 1 and fake.grants == 1
    stale = grants[0]
    refreshed = await asyncio.gather(*(auth.access_token("c1", force_refresh=True) for _ in range(3)))
    assert all(g.access_token != stale.access_token for g in refreshed)
    assert fake.grants == 2  # one refresh for the three callers


async def test_a_token_cached_before_the_call_is_not_handed_out_for_a_refused_one() -> None:
    """A caller whose refused token is older than the cached one: the cached one may have expired
    with it (a provider expiring every token at once), so a refresh is forced, not skipped."""
    fake = FakeAuth()
    auth = client(fake)
    old = await auth.access_token("c1")
    cached = await auth.access_token("c1", force_refresh=True)
    fresh = await auth.access_token("c1", force_refresh=True)
    assert fresh.access_token not in (old.access_token, cached.access_token)
    assert fake.seen_force == [False, True, True]


@pytest.mark.parametrize(
    ("status", "code", "message", "reauth"),
    [
        ("reauth", "reauth_required", "Link Google again.", True),
        ("inactive", "connection_inactive", "Not active.", False),
        ("gone", "connection_not_found", "", False),
    ],
)
async def test_unusable_connections_say_why(status: str, code: str, message: str, reauth: bool) -> None:
    fake = FakeAuth()
    fake.status = {"c1": status}
    with pytest.raises(ConnectionNotUsable) as caught:
        await client(fake).access_token("c1")
    assert (caught.value.code, caught.value.message, caught.value.reauth_required) == (code, message, reauth)
    assert not caught.value.retriable


# ---------------------------------------------------------------- unavailable


async def test_an_unreachable_auth_service_is_retriable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    auth = AuthInternalClient(
        "http://auth", "x", "y", http=httpx.AsyncClient(transport=httpx.MockTransport(down))
    )
    with pytest.raises(AuthUnavailable) as caught:
        await auth.access_token("c1")
    assert caught.value.retriable


@pytest.mark.parametrize(
    "response",
    [httpx.Response(503), httpx.Response(200, json={"unexpected": True}), httpx.Response(200, text="<html>")],
)
async def test_server_errors_and_foreign_bodies_are_unavailable(response: httpx.Response) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/service-token"):
            return httpx.Response(200, json={"access_token": "svc", "expires_in": 300})
        return response

    auth = AuthInternalClient(
        "http://auth", "x", "y", http=httpx.AsyncClient(transport=httpx.MockTransport(answer))
    )
    with pytest.raises(AuthUnavailable):
        await auth.connection("c1")
    with pytest.raises(AuthUnavailable):
        await auth.access_token("c1")
