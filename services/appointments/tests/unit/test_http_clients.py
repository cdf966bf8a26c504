"""The HTTP adapters: auth internal API (404 → not linked, failures → AuthUnavailable) and
connectors. The shared client of auth's internal API has its own tests in ``libs/common``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from appointments_service.adapters.auth_client import AuthConnectionDirectory
from appointments_service.adapters.connector_client import HttpCalendarGateway
from appointments_service.service_layer.ports import AuthUnavailable, ConnectorUnavailable
from visitor_common.contracts.auth_internal_client import AuthInternalClient
from visitor_common.contracts.availability import AvailabilityQuery, TimeSlot
from visitor_common.events import Provider

CONNECTION = {
    "connection_id": "c1",
    "tenant_id": "t1",
    "employee_id": "e1",
    "provider": "google",
    "account_email": "host@example.co.jp",
    "status": "active",
    "linked_at": "2030-01-01T00:00:00Z",
}


def auth_transport(requests: list[httpx.Request], *, token_status: int = 200) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/internal/v1/service-token":
            return httpx.Response(token_status, json={"access_token": "svc-token", "expires_in": 300})
        assert request.headers["Authorization"] == "Bearer svc-token"
        if request.url.path.endswith("/employees/e1/calendar-connection"):
            return httpx.Response(200, json=CONNECTION)
        if request.url.path == "/internal/v1/calendar-connections/c1":
            return httpx.Response(200, json={**CONNECTION, "status": "inactive"})
        if request.url.path.endswith("/boom"):
            return httpx.Response(500)
        return httpx.Response(404, json={"code": "no_active_connection"})

    return httpx.MockTransport(handler)


def directory(client_secret: str, transport: httpx.MockTransport) -> AuthConnectionDirectory:
    http = httpx.AsyncClient(transport=transport)
    return AuthConnectionDirectory(
        AuthInternalClient("http://auth", "appointments", client_secret, http=http)
    )


async def test_directory_uses_one_cached_service_token() -> None:
    requests: list[httpx.Request] = []
    connections = directory("s3cret", auth_transport(requests))
    active = await connections.active_connection("t1", "e1")
    assert active is not None and active.provider is Provider.GOOGLE
    bound = await connections.connection("c1")
    assert bound is not None and bound.status.value == "inactive"
    assert await connections.active_connection("t1", "e2") is None
    token_requests = [r for r in requests if r.url.path == "/internal/v1/service-token"]
    assert len(token_requests) == 1
    form = token_requests[0].content.decode()
    assert "grant_type=client_credentials" in form and "client_id=appointments" in form
    await connections.aclose()


async def test_directory_failures_are_auth_unavailable() -> None:
    refused = directory("wrong", auth_transport([], token_status=401))
    with pytest.raises(AuthUnavailable):
        await refused.active_connection("t1", "e1")

    with pytest.raises(AuthUnavailable):
        await directory("s3cret", auth_transport([])).connection("boom")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(AuthUnavailable):
        await directory("b", httpx.MockTransport(refuse)).connection("c1")


async def test_ids_are_escaped_into_one_path_segment() -> None:
    requests: list[httpx.Request] = []
    connections = directory("b", auth_transport(requests))
    assert await connections.connection("../../admin") is None
    assert requests[-1].url.raw_path.endswith(b"/calendar-connections/..%2F..%2Fadmin")


def query() -> AvailabilityQuery:
    start = datetime(2030, 1, 7, 1, tzinfo=UTC)
    return AvailabilityQuery(slots=[TimeSlot(start=start, end=start + timedelta(hours=1))])


async def test_gateway_forwards_the_bearer_token_to_the_bound_connector() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/rooms":
            return httpx.Response(
                200, json={"provider": "outlook", "selection_required": True, "choices": []}
            )
        slot = {"start": "2030-01-07T01:00:00Z", "end": "2030-01-07T02:00:00Z", "host_free": True}
        return httpx.Response(200, json={"provider": "outlook", "slots": [slot]})

    gateway = HttpCalendarGateway(
        {Provider.GOOGLE: "http://google", Provider.OUTLOOK: "http://outlook/"},
        transport=httpx.MockTransport(handler),
    )
    rooms = await gateway.rooms(Provider.OUTLOOK, "user-jwt")
    answer = await gateway.availability(Provider.OUTLOOK, "user-jwt", query())
    assert rooms.selection_required and answer.slots[0].host_free
    assert [str(r.url) for r in seen] == ["http://outlook/v1/rooms", "http://outlook/v1/availability"]
    assert all(r.headers["Authorization"] == "Bearer user-jwt" for r in seen)
    await gateway.aclose()


@pytest.mark.parametrize(
    "response",
    [httpx.Response(503), httpx.Response(200, json={"unexpected": True}), httpx.Response(200, text="<html>")],
)
async def test_gateway_failures_are_connector_unavailable(response: httpx.Response) -> None:
    gateway = HttpCalendarGateway(
        {Provider.GOOGLE: "http://google"}, transport=httpx.MockTransport(lambda _: response)
    )
    with pytest.raises(ConnectorUnavailable):
        await gateway.availability(Provider.GOOGLE, "t", query())
    with pytest.raises(ConnectorUnavailable):
        await gateway.rooms(Provider.OUTLOOK, "t")  # no URL configured
