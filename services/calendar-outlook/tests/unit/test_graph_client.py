"""The Graph client over a mock transport: retries, Retry-After, 401 refresh, paging, limits."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from calendar_outlook.adapters.graph.client import GraphClient, RetryConfig, StaticAuth
from calendar_outlook.adapters.graph.errors import (
    GraphApiError,
    GraphErrorKind,
    classify,
    parse_error_body,
    parse_retry_after,
)
from calendar_outlook.adapters.graph.limiter import MailboxLimiter

BASE = "https://graph.test"
AUTH = StaticAuth("host@contoso.example", "t1")


def graph_error(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {"error": {"code": code, "message": f"{code}!", "innerError": {"request-id": "r-1"}}}
    return httpx.Response(status, json=body, headers=headers)


def event_json(event_id: str = "AAMk1", **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "changeKey": "ck",
        "subject": "Visit",
        "start": {"dateTime": "2026-12-01T01:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-01T02:00:00.0000000", "timeZone": "UTC"},
        **extra,
    }


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_client(
    handler: Callable[[httpx.Request], Any], *, retry: RetryConfig | None = None, limit: int = 4
) -> tuple[GraphClient, Sleeps]:
    sleeps = Sleeps()
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = GraphClient(
        http, base_url=BASE, limiter=MailboxLimiter(limit), retry=retry or RetryConfig(), sleep=sleeps
    )
    return client, sleeps


async def test_create_event_sends_token_timezone_preference_and_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=event_json(transactionId="tx-1"))

    client, _ = make_client(handler)
    created = await client.create_event(AUTH, {"subject": "Visit", "transactionId": "tx-1"})
    assert created.id == "AAMk1" and created.transaction_id == "tx-1"
    request = seen[0]
    assert request.url == httpx.URL(f"{BASE}/v1.0/me/events")
    assert request.headers["authorization"] == "Bearer t1"
    assert request.headers["prefer"] == 'outlook.timezone="UTC"'
    assert json.loads(request.content)["transactionId"] == "tx-1"
    assert created.start is not None
    assert created.start.as_utc() == dt.datetime(2026, 12, 1, 1, tzinfo=dt.UTC)


async def test_429_honours_retry_after_then_succeeds() -> None:
    answers = [graph_error(429, "TooManyRequests", "3"), graph_error(503, "ServiceNotAvailable", "1")]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else httpx.Response(200, json=event_json())

    client, sleeps = make_client(handler)
    event = await client.get_event(AUTH, "AAMk1")
    assert event is not None
    assert sleeps.calls == [3.0, 1.0]
    assert client.retries == 2


async def test_retries_are_bounded() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return graph_error(429, "TooManyRequests", "1")

    client, _ = make_client(handler, retry=RetryConfig(max_attempts=3))
    with pytest.raises(GraphApiError) as caught:
        await client.get_event(AUTH, "x")
    assert calls == 3
    assert caught.value.kind is GraphErrorKind.THROTTLED and caught.value.retriable
    assert caught.value.retry_after == 1.0


async def test_a_long_retry_after_is_not_slept_inline() -> None:
    client, sleeps = make_client(lambda r: graph_error(429, "TooManyRequests", "120"))
    with pytest.raises(GraphApiError) as caught:
        await client.get_event(AUTH, "x")
    assert sleeps.calls == []
    assert caught.value.retry_after == 120.0


async def test_single_attempt_mode_raises_at_once() -> None:
    client, sleeps = make_client(lambda r: graph_error(503, "ServiceNotAvailable"), retry=RetryConfig(1))
    with pytest.raises(GraphApiError) as caught:
        await client.get_event(AUTH, "x")
    assert caught.value.kind is GraphErrorKind.UNAVAILABLE
    assert sleeps.calls == []


async def test_network_errors_are_unavailable_and_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=event_json())

    client, sleeps = make_client(handler)
    assert await client.get_event(AUTH, "x") is not None
    assert len(sleeps.calls) == 1


class RefreshingAuth:
    mailbox = "host@contoso.example"

    def __init__(self) -> None:
        self.refreshes = 0

    async def access_token(self, *, refresh: bool = False) -> str:
        if refresh:
            self.refreshes += 1
        return f"token-{self.refreshes}"


async def test_401_refreshes_the_token_once_and_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer token-0":
            return graph_error(401, "InvalidAuthenticationToken")
        return httpx.Response(200, json=event_json())

    auth = RefreshingAuth()
    client, _ = make_client(handler)
    assert await client.get_event(auth, "x") is not None
    assert auth.refreshes == 1


async def test_401_after_refresh_is_raised_not_looped() -> None:
    auth = RefreshingAuth()
    client, _ = make_client(lambda r: graph_error(401, "InvalidAuthenticationToken"))
    with pytest.raises(GraphApiError) as caught:
        await client.get_event(auth, "x")
    assert caught.value.kind is GraphErrorKind.UNAUTHORIZED
    assert auth.refreshes == 1


async def test_401_with_a_static_token_is_raised_at_once() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return graph_error(401, "InvalidAuthenticationToken")

    client, _ = make_client(handler)
    with pytest.raises(GraphApiError):
        await client.get_event(AUTH, "x")
    assert calls == 1


async def test_get_and_delete_treat_404_as_gone() -> None:
    client, _ = make_client(lambda r: graph_error(404, "ErrorItemNotFound"))
    assert await client.get_event(AUTH, "x") is None
    assert await client.delete_event(AUTH, "x") is False


async def test_concurrent_calls_on_one_mailbox_never_exceed_the_limit() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return httpx.Response(200, json=event_json())

    client, _ = make_client(handler)
    await asyncio.gather(*(client.get_event(AUTH, str(i)) for i in range(30)))
    assert peak == 4


async def test_delta_follows_next_links_and_returns_the_delta_link() -> None:
    pages = {
        "first": {
            "value": [event_json("a"), {"id": "gone", "@removed": {"reason": "deleted"}}],
            "@odata.nextLink": f"{BASE}/v1.0/me/calendarView/delta?$skiptoken=s1",
        },
        "s1": {
            "value": [event_json("b")],
            "@odata.deltaLink": f"{BASE}/v1.0/me/calendarView/delta?$deltatoken=d1",
        },
    }

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("$skiptoken")
        if token is None:
            assert request.url.params["startDateTime"].endswith("Z")
        return httpx.Response(200, json=pages[token or "first"])

    client, _ = make_client(handler)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    result = await client.calendar_delta(AUTH, start=start, end=start + dt.timedelta(days=30))
    assert [e.id for e in result.changed] == ["a", "b"]
    assert result.removed_ids == ["gone"]
    assert result.delta_link.endswith("$deltatoken=d1")


async def test_delta_resync_is_classified() -> None:
    client, _ = make_client(lambda r: graph_error(410, "syncStateNotFound"))
    with pytest.raises(GraphApiError) as caught:
        await client.calendar_delta(AUTH, delta_link=f"{BASE}/v1.0/me/calendarView/delta?$deltatoken=old")
    assert caught.value.kind is GraphErrorKind.RESYNC_REQUIRED


async def test_links_to_other_hosts_are_refused() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json={}))
    with pytest.raises(ValueError, match="another host"):
        await client.calendar_delta(AUTH, delta_link="https://evil.example/v1.0/me/calendarView/delta")


async def test_get_schedule_chunks_twenty_addresses_per_call() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(
            200,
            json={
                "value": [
                    {"scheduleId": s, "availabilityView": "0", "scheduleItems": []} for s in body["schedules"]
                ]
            },
        )

    client, _ = make_client(handler)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    addresses = [f"room{i}@contoso.example" for i in range(45)]
    infos = await client.get_schedule(AUTH, addresses, start, start + dt.timedelta(hours=1))
    assert [len(b["schedules"]) for b in bodies] == [20, 20, 5]
    assert len(infos) == 45
    assert bodies[0]["startTime"] == {"dateTime": "2026-01-01T00:00:00", "timeZone": "UTC"}
    with pytest.raises(ValueError, match="62 days"):
        await client.get_schedule(AUTH, addresses, start, start + dt.timedelta(days=62))


async def test_room_lists_are_paged() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("$skip") == "1":
            return httpx.Response(
                200, json={"value": [{"id": "2", "displayName": "B", "emailAddress": "b@x.com"}]}
            )
        return httpx.Response(
            200,
            json={
                "value": [{"id": "1", "displayName": "A", "emailAddress": "a@x.com"}],
                "@odata.nextLink": f"{BASE}/v1.0/places/microsoft.graph.roomlist?$top=1&$skip=1",
            },
        )

    client, _ = make_client(handler)
    lists = await client.list_room_lists(AUTH)
    assert [r.email_address for r in lists] == ["a@x.com", "b@x.com"]


async def test_subscription_create_renew_delete() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []
    expiry = "2026-12-01T00:00:00Z"

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        seen.append((request.method, request.url.path, body))
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"id": "sub-1", "clientState": "cs", "expirationDateTime": expiry})

    client, _ = make_client(handler)
    when = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    sub = await client.create_subscription(
        AUTH, notification_url="https://me.example/notifications/outlook", client_state="cs", expiration=when
    )
    assert sub.id == "sub-1" and sub.expiration == when
    await client.renew_subscription(AUTH, "sub-1", when)
    assert await client.delete_subscription(AUTH, "sub-1") is True
    method, path, body = seen[0]
    assert (method, path) == ("POST", "/v1.0/subscriptions")
    assert body["changeType"] == "created,updated,deleted" and body["resource"] == "me/events"
    assert body["expirationDateTime"] == expiry and body["clientState"] == "cs"
    assert seen[1][:2] == ("PATCH", "/v1.0/subscriptions/sub-1")
    assert seen[2][:2] == ("DELETE", "/v1.0/subscriptions/sub-1")


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "kind"),
    [
        (429, "TooManyRequests", 1.0, GraphErrorKind.THROTTLED),
        (429, "ApplicationThrottled", None, GraphErrorKind.THROTTLED),
        (503, "ServiceNotAvailable", 2.0, GraphErrorKind.THROTTLED),
        (503, "ServiceNotAvailable", None, GraphErrorKind.UNAVAILABLE),
        (500, "InternalServerError", None, GraphErrorKind.UNAVAILABLE),
        (401, "InvalidAuthenticationToken", None, GraphErrorKind.UNAUTHORIZED),
        (403, "ErrorAccessDenied", None, GraphErrorKind.FORBIDDEN),
        (404, "ErrorItemNotFound", None, GraphErrorKind.NOT_FOUND),
        (410, "resyncRequired", None, GraphErrorKind.RESYNC_REQUIRED),
        (400, "syncStateNotFound", None, GraphErrorKind.RESYNC_REQUIRED),
        (409, "ErrorIrresolvableConflict", None, GraphErrorKind.CONFLICT),
        (400, "ErrorTimeIntervalTooBig", None, GraphErrorKind.INVALID),
    ],
)
def test_classify(status: int, code: str, retry_after: float | None, kind: GraphErrorKind) -> None:
    assert classify(status, parse_error_body({"error": {"code": code}}), retry_after) is kind


def test_error_body_parsing_tolerates_junk() -> None:
    assert parse_error_body("<html>").code == "UnknownError"
    body = parse_error_body({"error": {"code": "X", "message": "m", "innerError": {"request-id": "r"}}})
    assert (body.code, body.message, body.request_id) == ("X", "m", "r")


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:05 GMT", now=now) == 5.0
