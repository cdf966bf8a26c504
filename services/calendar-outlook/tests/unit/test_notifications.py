"""Graph notifications: the validation handshake, clientState checks, lifecycle events."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
from fastapi import FastAPI

from calendar_outlook.adapters.graph.client import GraphClient
from calendar_outlook.adapters.graph_provider import GraphCalendarProvider
from calendar_outlook.api.notifications import notifications_router
from calendar_outlook.service_layer.drift import GraphNotification, handle_graph_notification
from calendar_sync.engine.engine import SyncEngine
from calendar_sync.engine.locks import KeyedLimiter
from calendar_sync.engine.monitor import DriftMonitor
from calendar_sync.engine.state import (
    AppliedStateRepository,
    ConnectionSync,
    ConnectionSyncRepository,
)
from calendar_sync.engine.status import StatusPublisher
from visitor_common.contracts.connections import AccessTokenGrant
from visitor_common.events.appointments import Provider
from visitor_common.persistence import InMemoryDocumentStore
from visitor_common.web import install_problem_handlers

SECRET = "s3cret-client-state"


class Tokens:
    async def access_token(self, connection_id: str, *, force_refresh: bool = False) -> AccessTokenGrant:
        return AccessTokenGrant(
            connection_id=connection_id,
            provider=Provider.OUTLOOK,
            access_token="tok",
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        )


class Graph:
    """A mock Graph that records calls; a PATCH takes a network round trip (``patch_delay``)."""

    def __init__(self, patch_delay: float = 0.0) -> None:
        self.calls: list[tuple[str, str]] = []
        self.patch_delay = patch_delay

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        if request.method == "PATCH" and self.patch_delay:
            await asyncio.sleep(self.patch_delay)  # other callers run meanwhile
        if request.url.path.startswith("/v1.0/subscriptions"):
            expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
            return httpx.Response(
                201, json={"id": "sub-new", "clientState": "x", "expirationDateTime": expiry}
            )
        return httpx.Response(
            200,
            json={
                "value": [],
                "@odata.deltaLink": "https://graph.test/v1.0/me/calendarView/delta?$deltatoken=d",
            },
        )


async def _monitor(graph: Graph) -> DriftMonitor:
    store = InMemoryDocumentStore()
    http = httpx.AsyncClient(transport=httpx.MockTransport(graph))
    provider = GraphCalendarProvider(GraphClient(http, base_url="https://graph.test", limiter=KeyedLimiter()))

    async def sink(topic: str, event: Any) -> None:
        return None

    engine = SyncEngine(
        provider,
        Tokens(),
        AppliedStateRepository(store.collection("a")),
        StatusPublisher(sink, provider=Provider.OUTLOOK, source="/t"),
    )
    repo = ConnectionSyncRepository(store.collection("c"))
    await repo.save(
        ConnectionSync(
            connection_id="c1",
            tenant_id="t1",
            account_email="host@contoso.example",
            channel_id="sub-1",
            channel_token=SECRET,
            channel_expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2),
        )
    )
    return DriftMonitor(
        engine, repo, push=provider, hooks=provider, push_address="https://me.example/notifications/outlook"
    )


async def test_wrong_or_missing_client_state_and_unknown_subscriptions_are_rejected() -> None:
    graph = Graph()
    monitor = await _monitor(graph)
    for note in (
        GraphNotification("sub-1", "wrong", change_type="updated"),
        GraphNotification("sub-1", "", change_type="updated"),
        GraphNotification("sub-unknown", SECRET, change_type="updated"),
        GraphNotification("sub-1", "wrong", lifecycle_event="subscriptionRemoved"),
    ):
        assert await handle_graph_notification(monitor, note) is False
    assert monitor.forged_notifications == 4 and graph.calls == []


async def test_a_genuine_change_triggers_a_delta_sync() -> None:
    graph = Graph()
    monitor = await _monitor(graph)
    assert await handle_graph_notification(monitor, GraphNotification("sub-1", SECRET, change_type="updated"))
    await monitor.stop()  # waits for nothing; the sync task ran or was cancelled
    assert monitor.notifications == 1


async def test_reauthorization_required_renews_in_place() -> None:
    graph = Graph()
    monitor = await _monitor(graph)
    assert await handle_graph_notification(
        monitor, GraphNotification("sub-1", SECRET, lifecycle_event="reauthorizationRequired")
    )
    assert graph.calls == [("PATCH", "/v1.0/subscriptions/sub-1")]
    stored = await monitor.connections.get("c1")
    assert stored is not None and stored.channel_id == "sub-new"  # whatever id Graph answers with


async def test_subscription_removed_opens_a_new_subscription() -> None:
    graph = Graph()
    monitor = await _monitor(graph)
    assert await handle_graph_notification(
        monitor, GraphNotification("sub-1", SECRET, lifecycle_event="subscriptionRemoved")
    )
    assert ("POST", "/v1.0/subscriptions") in graph.calls
    stored = await monitor.connections.get("c1")
    assert stored is not None and stored.channel_id == "sub-new" and stored.channel_token != SECRET
    await monitor.stop()


async def test_expiring_subscriptions_are_renewed_with_patch() -> None:
    graph = Graph()
    monitor = await _monitor(graph)
    current = await monitor.connections.get("c1")
    assert current is not None
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    await monitor.connections.save(current.model_copy(update={"channel_expires_at": soon}))
    await monitor.ensure_channel("c1")
    assert graph.calls == [("PATCH", "/v1.0/subscriptions/sub-1")]


async def test_concurrent_renewals_patch_the_subscription_once() -> None:
    """A poll and a ``reauthorizationRequired`` may renew together; renewals share the lock that
    opening a channel holds, so the second sees the renewed subscription."""
    graph = Graph(patch_delay=0.02)
    monitor = await _monitor(graph)
    current = await monitor.connections.get("c1")
    assert current is not None
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    await monitor.connections.save(current.model_copy(update={"channel_expires_at": soon}))
    await asyncio.gather(monitor.ensure_channel("c1"), monitor.poll_once())
    assert graph.calls.count(("PATCH", "/v1.0/subscriptions/sub-1")) == 1
    assert [c for c in graph.calls if c[1].startswith("/v1.0/subscriptions")] == [
        ("PATCH", "/v1.0/subscriptions/sub-1")
    ]
    await monitor.stop()


async def test_route_answers_validation_and_accepts_batches() -> None:
    graph = Graph()
    monitor = await _monitor(graph)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(notifications_router(monitor))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ok = await client.post("/notifications/outlook?validationToken=a%20b%3Cc%3E")
        assert (ok.status_code, ok.text, ok.headers["content-type"].split(";")[0]) == (
            200,
            "a b<c>",
            "text/plain",
        )
        body = {"value": [{"subscriptionId": "sub-1", "clientState": "bad", "changeType": "created"}]}
        accepted = await client.post("/notifications/outlook", content=json.dumps(body))
        assert accepted.status_code == 202
        assert (await client.post("/notifications/outlook", json={"value": "x"})).status_code == 400
    await monitor.stop()


def _app(**overrides: Any) -> FastAPI:
    from calendar_outlook.bootstrap import create_app

    return create_app(kafka_idempotent_producer=False, public_base_url="https://c.example", **overrides)


async def _until(condition: Any, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_batch_of_bogus_items_logs_one_summary_line(caplog: Any) -> None:
    app = _app()
    monitor = app.state.connector.monitor
    items = [
        {"subscriptionId": f"bogus-{i}", "clientState": "x", "changeType": "updated"} for i in range(1000)
    ]
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4000))
    with caplog.at_level("INFO"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/notifications/outlook", json={"value": items})
        assert response.status_code == 202
        await _until(lambda: monitor.forged_notifications == 1000)
        await _until(
            lambda: any(r.getMessage() == "rejected Graph notification items" for r in caplog.records)
        )
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [r.getMessage() for r in warnings] == ["rejected Graph notification items"]
    summary = warnings[0]
    assert summary.__dict__["rejected"] == 1000 and summary.__dict__["items"] == 1000
    assert summary.__dict__["source"] == "203.0.113.7"


async def test_notifications_are_rate_limited_per_source_address() -> None:
    app = _app(notification_rate_limit_per_minute=2)

    def client(address: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(address, 4000)), base_url="http://t"
        )

    batch = {"value": [{"subscriptionId": "s", "clientState": "x"}]}
    async with client("203.0.113.7") as attacker, client("198.51.100.1") as graph:
        assert (await attacker.post("/notifications/outlook", json=batch)).status_code == 202
        assert (await attacker.post("/notifications/outlook?validationToken=abc")).status_code == 200
        limited = await attacker.post("/notifications/outlook", json=batch)
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await graph.post("/notifications/outlook", json=batch)).status_code == 202
