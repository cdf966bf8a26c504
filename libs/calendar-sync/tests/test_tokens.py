"""The engine's token client: the shared internal-API client's answers as the engine's token
errors (the client itself is tested in ``libs/common/tests/test_auth_internal_client.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from calendar_sync.core import AuthServiceUnavailable, ConnectionInactive, ReauthRequired, TokenError
from calendar_sync.engine import AuthTokenClient
from visitor_common.contracts.auth_internal_client import AuthInternalClient


def grant(connection_id: str) -> httpx.Response:
    expires = datetime.now(UTC) + timedelta(hours=1)
    body = {"connection_id": connection_id, "provider": "google", "access_token": "ya29.1"}
    return httpx.Response(200, json={**body, "expires_at": expires.isoformat()})


ANSWERS = {
    "ok": grant("ok"),
    "reauth": httpx.Response(409, json={"code": "reauth_required", "detail": "Link Google again."}),
    "inactive": httpx.Response(409, json={"code": "connection_inactive", "detail": "Not active."}),
    "gone": httpx.Response(404, json={"code": "connection_not_found"}),
    "down": httpx.Response(503),
    "refused": httpx.Response(403, json={"code": "forbidden"}),
}


def handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/internal/v1/service-token":
        return httpx.Response(200, json={"access_token": "svc-1", "expires_in": 3600})
    if path.endswith("/calendar-connection"):
        return httpx.Response(404, json={"code": "no_active_connection"})
    return ANSWERS[path.split("/")[4]]


def client() -> AuthTokenClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AuthTokenClient(AuthInternalClient("http://auth", "calendar-google", "s3cret", http=http))


async def test_a_grant_is_passed_through_and_cached() -> None:
    tokens = client()
    first = await tokens.access_token("ok")
    assert first.access_token == "ya29.1" and await tokens.access_token("ok") == first


@pytest.mark.parametrize(
    ("connection_id", "error", "retriable", "message"),
    [
        ("reauth", ReauthRequired, False, "Link Google again."),
        ("inactive", ConnectionInactive, False, "Not active."),
        ("gone", ConnectionInactive, False, "no longer active"),
        ("down", AuthServiceUnavailable, True, "503"),
        ("refused", TokenError, False, "403"),
    ],
)
async def test_auth_answers_are_the_engines_token_errors(
    connection_id: str, error: type[TokenError], retriable: bool, message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        await client().access_token(connection_id)
    assert type(caught.value) is error and caught.value.retriable is retriable


async def test_lookups() -> None:
    tokens = client()
    assert await tokens.connection_for_employee("t1", "e1") is None
    with pytest.raises(ConnectionInactive):
        await tokens.connection("gone")


async def test_an_unreachable_auth_service_is_retriable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    http = httpx.AsyncClient(transport=httpx.MockTransport(down))
    tokens = AuthTokenClient(AuthInternalClient("http://auth", "x", "y", http=http))
    with pytest.raises(AuthServiceUnavailable) as caught:
        await tokens.access_token("c1")
    assert caught.value.retriable
