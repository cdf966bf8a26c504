"""The Graph transport over a mock transport: headers, one classification, no retries, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from calendar_outlook.adapters.graph.client import GraphClient, error_for
from calendar_sync.core import (
    AccessTokenRejected,
    EventNotFound,
    PermissionMissing,
    ProviderAccess,
    ProviderError,
    ProviderRejected,
    SyncCursorInvalid,
    TransientProviderError,
)
from calendar_sync.engine.locks import KeyedLimiter

BASE = "https://graph.test"
ACCESS = ProviderAccess("c1", "host@contoso.example", "t1", "t1")


def graph_error(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {"error": {"code": code, "message": f"{code}!", "innerError": {"request-id": "r-1"}}}
    return httpx.Response(status, json=body, headers=headers)


class Counting:
    """A mock Graph answering with ``answer``, counting the requests it saw."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


def make_client(handler: Callable[[httpx.Request], Any], limit: int = 4) -> GraphClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return GraphClient(http, base_url=BASE, limiter=KeyedLimiter(limit))


async def test_a_request_sends_the_token_the_utc_preference_and_the_body() -> None:
    graph = Counting(lambda r: httpx.Response(201, json={"id": "AAMk1"}))
    answer = await make_client(graph).request(ACCESS, "POST", "me/events", json={"transactionId": "tx-1"})
    assert answer == {"id": "AAMk1"}
    request = graph.requests[0]
    assert request.url == httpx.URL(f"{BASE}/v1.0/me/events")
    assert request.headers["authorization"] == "Bearer t1"
    assert request.headers["prefer"] == 'outlook.timezone="UTC"'
    assert json.loads(request.content) == {"transactionId": "tx-1"}


async def test_an_empty_answer_is_an_empty_body() -> None:
    assert await make_client(lambda r: httpx.Response(204)).request(ACCESS, "DELETE", "me/events/x") == {}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (graph_error(429, "TooManyRequests", "3"), TransientProviderError),
        (graph_error(503, "ServiceNotAvailable"), TransientProviderError),
        (graph_error(401, "InvalidAuthenticationToken"), AccessTokenRejected),
    ],
)
async def test_a_failed_answer_is_raised_at_once_never_retried_nor_refreshed(
    answer: httpx.Response, expected: type[ProviderError]
) -> None:
    graph = Counting(lambda r: answer)
    with pytest.raises(expected) as caught:
        await make_client(graph).request(ACCESS, "GET", "me/events/x")
    assert len(graph.requests) == 1
    assert caught.value.status == answer.status_code
    assert caught.value.reason == answer.json()["error"]["code"]


async def test_a_429_carries_retry_after_for_the_engine() -> None:
    with pytest.raises(TransientProviderError) as caught:
        await make_client(lambda r: graph_error(429, "ApplicationThrottled", "120")).request(
            ACCESS, "GET", "me"
        )
    assert caught.value.retry_after == 120.0 and caught.value.rate_limited
    assert caught.value.message == "ApplicationThrottled!"


async def test_network_errors_are_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TransientProviderError, match="ConnectError"):
        await make_client(refuse).request(ACCESS, "GET", "me")


def _failed(status: int, body: Any, path: str = "/v1.0/me/events/x") -> ProviderError:
    request = httpx.Request("GET", f"{BASE}{path}")
    if isinstance(body, str):
        return error_for(httpx.Response(status, text=body, request=request))
    return error_for(httpx.Response(status, json=body, request=request))


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "TooManyRequests", TransientProviderError),
        (500, "InternalServerError", TransientProviderError),
        (401, "InvalidAuthenticationToken", AccessTokenRejected),
        (404, "ErrorItemNotFound", EventNotFound),
        (410, "resyncRequired", SyncCursorInvalid),
        (410, "syncStateNotFound", SyncCursorInvalid),
        (403, "ErrorAccessDenied", PermissionMissing),
        (409, "ErrorIrresolvableConflict", TransientProviderError),
        (400, "ErrorTimeIntervalTooBig", ProviderRejected),
    ],
)
def test_graph_codes_are_classified_once_by_the_engine(
    status: int, code: str, expected: type[ProviderError]
) -> None:
    error = _failed(status, {"error": {"code": code, "message": "m"}})
    assert type(error) is expected and error.reason == code


def test_a_403_on_places_asks_for_admin_consent_and_elsewhere_for_the_calendar_grant() -> None:
    places = _failed(403, {"error": {"code": "ErrorAccessDenied"}}, "/v1.0/places/microsoft.graph.roomlist")
    assert isinstance(places, PermissionMissing)
    assert places.code == "admin_consent_required" and "administrator" in places.message
    calendar = _failed(403, {"error": {"code": "ErrorAccessDenied"}})
    assert isinstance(calendar, PermissionMissing) and calendar.code == "calendar_permission_missing"
    assert calendar.reason == "ErrorAccessDenied"


def test_answers_without_a_graph_error_body_are_tolerated() -> None:
    html = _failed(502, "<html>bad gateway</html>")
    assert isinstance(html, TransientProviderError) and html.reason is None
    assert html.message == "Graph answered 502"
    assert isinstance(_failed(400, [1, 2]), ProviderRejected)


async def test_concurrent_calls_on_one_mailbox_never_exceed_the_limit() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return httpx.Response(200, json={})

    client = make_client(handler)
    await asyncio.gather(*(client.request(ACCESS, "GET", f"me/events/{i}") for i in range(30)))
    assert peak == 4


async def test_pages_follow_next_links_on_the_graph_host_only() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("$skip") == "1":
            return httpx.Response(200, json={"value": [2]})
        assert request.url.params["$top"] == "1"
        return httpx.Response(200, json={"value": [1], "@odata.nextLink": f"{BASE}/v1.0/things?$skip=1"})

    client = make_client(handler)
    assert [p["value"] async for p in client.pages(ACCESS, "things", {"$top": "1"})] == [[1], [2]]
    with pytest.raises(ValueError, match="another host"):
        await client.request(ACCESS, "GET", "https://evil.example/v1.0/me/calendarView/delta")
