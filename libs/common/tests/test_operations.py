"""Metrics, trace context and readiness: the operations side every service gets from
``ServiceRuntime.install_operations``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from devstack.brokers import Broker
from visitor_common import metrics, tracecontext
from visitor_common.events import SyncState, new_event
from visitor_common.events.sync import CalendarSyncStatusReported
from visitor_common.logging import JsonFormatter
from visitor_common.messaging import event_headers
from visitor_common.outbox import outbox_entries
from visitor_common.persistence import InMemoryDocumentStore
from visitor_common.runtime import ServiceRuntime
from visitor_common.settings import ServiceSettings

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _status_event(appointment_id: str = "appt-1") -> object:
    data = CalendarSyncStatusReported(
        appointment_id=appointment_id,
        tenant_id="t1",
        provider="google",
        connection_id="c1",
        appointment_version=1,
        state=SyncState.SYNCED,
    )
    return new_event(data, source="test", subject=appointment_id, tenant_id="t1", appointment_version=1)


def _app(runtime: ServiceRuntime) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/guest/appointments/{guest_token}")
    async def guest(guest_token: str) -> dict[str, str]:
        event = _status_event()
        logging.getLogger("test").info("handled")
        return {"event": event.id, "traceparent": event.traceparent or ""}  # type: ignore[attr-defined]

    runtime.install_operations(app)
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


def _settings(**kw: object) -> ServiceSettings:
    return ServiceSettings(kafka_enabled=False, **kw)  # type: ignore[arg-type]


def test_traceparent_parsing_refuses_what_is_not_w3c() -> None:
    assert tracecontext.parse_traceparent(TRACEPARENT) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    )
    for bad in ("", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", TRACEPARENT + "x"):
        assert tracecontext.parse_traceparent(bad) is None


def test_events_carry_the_trace_and_old_envelopes_stay_byte_identical() -> None:
    outside = _status_event()
    assert outside.traceparent is None  # type: ignore[attr-defined]
    assert "traceparent" not in json.loads(outside.model_dump_json())  # type: ignore[attr-defined]
    with tracecontext.scope(TRACEPARENT) as ids:
        event = _status_event()
        assert ids["event_id"] == event.id and ids["appointment_id"] == "appt-1"  # type: ignore[attr-defined]
    assert event.traceparent.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")  # type: ignore[attr-defined]
    assert event_headers(event)["ce_traceparent"] == event.traceparent  # type: ignore[arg-type,attr-defined]


def test_log_lines_name_the_request_event_and_appointment() -> None:
    formatter = JsonFormatter("svc")
    record = logging.makeLogRecord({"msg": "did it", "levelno": logging.INFO, "levelname": "INFO"})
    with tracecontext.scope(TRACEPARENT, event_id="e1"):
        tracecontext.bind(appointment_id="a1")
        line = json.loads(formatter.format(record))
    assert line["request_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert (line["event_id"], line["appointment_id"]) == ("e1", "a1")
    assert "request_id" not in json.loads(formatter.format(record))  # outside a scope


async def test_http_requests_count_by_route_template_and_continue_the_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = ServiceRuntime.for_settings(_settings(), InMemoryDocumentStore())
    app = _app(runtime)
    caplog.set_level(logging.INFO)
    async with _client(app) as http:
        answer = await http.get(
            "/v1/guest/appointments/SECRET-GUEST-TOKEN", headers={"traceparent": TRACEPARENT}
        )
        scraped = (await http.get("/metrics")).text
    assert answer.headers["x-request-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert answer.json()["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert "SECRET-GUEST-TOKEN" not in scraped
    assert _sample(scraped, "http_requests_total", route="/v1/guest/appointments/{guest_token}") >= 1
    request_lines = [r for r in caplog.records if r.getMessage() == "http request"]
    assert request_lines and request_lines[-1].__dict__["route"] == "/v1/guest/appointments/{guest_token}"


async def test_outbox_backlog_is_read_on_scrape() -> None:
    store = InMemoryDocumentStore()
    runtime = ServiceRuntime.for_settings(_settings(), store)
    collection = store.collection("things")

    async def publish(_: object) -> None:
        return None

    runtime.outbox([collection], publish)
    await collection.insert({"_id": "d1", "version": 1, "outbox": outbox_entries([("t", _status_event())])})
    async with _client(_app(runtime)) as http:
        scraped = (await http.get("/metrics")).text
    assert _sample(scraped, "outbox_backlog_entries") == 1
    assert "outbox_oldest_entry_age_seconds" in scraped


def test_provider_operations_never_hold_ids_or_addresses() -> None:
    assert (
        metrics.provider_operation("get", "/calendar/v3/calendars/primary/events/abc123")
        == "GET /calendar/v3/calendars/primary/events/{id}"
    )
    assert (
        metrics.provider_operation("POST", "/v1.0/users/host@contoso.example/calendar/events")
        == "POST /v1.0/users/{id}/calendar/events"
    )


def test_a_429_counts_as_throttled_with_its_retry_after() -> None:
    request = httpx.Request("GET", "https://graph.example/v1.0/me/calendarView")
    before = _value("provider_api_throttled_total", provider="outlook", operation="GET /v1.0/me/calendarView")
    metrics.observe_provider_response(
        "outlook", httpx.Response(429, headers={"retry-after": "7"}, request=request)
    )
    after = _value("provider_api_throttled_total", provider="outlook", operation="GET /v1.0/me/calendarView")
    assert after == before + 1
    assert _value("provider_api_retry_after_seconds_sum", provider="outlook") >= 7


async def test_readiness_includes_the_checks_a_service_adds() -> None:
    runtime = ServiceRuntime.for_settings(_settings(), InMemoryDocumentStore())
    up = {"auth": True}

    async def auth() -> bool:
        return up["auth"]

    runtime.readiness_check("auth", auth)
    async with _client(_app(runtime)) as http:
        assert (await http.get("/readyz")).status_code == 200
        up["auth"] = False
        answer = await http.get("/readyz")
    assert answer.status_code == 503 and answer.json()["checks"]["auth"] is False


@pytest.mark.broker
async def test_readiness_turns_false_while_the_broker_is_away_and_back_when_it_returns(
    fresh_kafka: Broker,
) -> None:
    settings = ServiceSettings(
        kafka_bootstrap_servers=fresh_kafka.bootstrap_servers,
        kafka_idempotent_producer=False,
        kafka_request_timeout_ms=2000,
        create_topics=False,
    )
    runtime = ServiceRuntime.for_settings(settings, InMemoryDocumentStore())
    app = _app(runtime)
    await runtime.start()
    try:
        async with _client(app) as http:

            async def broker_ready() -> bool:
                answer = await http.get("/readyz")
                assert answer.json()["checks"]["store"] is True
                return answer.status_code == 200 and answer.json()["checks"]["broker"] is True

            await _eventually(broker_ready, expect=True)
            fresh_kafka.stop()
            await _eventually(broker_ready, expect=False)
            fresh_kafka.restart()
            await _eventually(broker_ready, expect=True)
            assert (await http.get("/healthz")).status_code == 200  # liveness never depended on it
    finally:
        await runtime.stop()


async def _eventually(check: Callable[[], Awaitable[bool]], *, expect: bool, deadline: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    while (await check()) is not expect:
        assert loop.time() < until, f"readiness never became {expect}"
        await asyncio.sleep(0.5)


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _value(name: str, **labels: str) -> float:
    return _sample(generate_latest(REGISTRY).decode(), name, **labels)
