"""Against a real Kafka-protocol broker (Tansu): the linked event reaches the topic, keyed by the
connection id, with its CloudEvents headers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from auth_testkit import (
    SERVICE_URL,
    Browser,
    Emulators,
    Harness,
    MutableClock,
    bearer,
    seed_google,
    seed_microsoft,
    service_settings,
)

from auth_service.bootstrap import create_app
from visitor_common.events import CalendarConnectionLinked, parse_event
from visitor_common.topics import CONNECTIONS

pytestmark = pytest.mark.broker


async def _consume_until(bootstrap: str, subject: str, timeout: float = 20.0) -> tuple[Any, Any]:
    consumer = AIOKafkaConsumer(
        CONNECTIONS, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout):
            async for message in consumer:
                if message.key == subject.encode():
                    return message, parse_event(message.value)
    finally:
        await consumer.stop()
    raise AssertionError("unreachable")


async def test_linked_event_is_published_to_kafka(kafka_bootstrap: str, emulators: Emulators) -> None:
    seed_google(emulators.google_control)
    seed_microsoft(emulators.ms_control)
    settings = service_settings(
        emulators,
        kafka_enabled=True,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_idempotent_producer=False,
        kafka_partitions=6,
    )
    app = create_app(settings, clock=MutableClock())
    browser = Browser(emulators.ca_file)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SERVICE_URL) as client:
            h = Harness(client, app, settings, MutableClock(), browser, emulators)
            _, token = await h.employee("acme", "alice@example.com")
            assert (await h.link("google", token, "alice@example.com")).status_code == 200
            current = await client.get("/v1/calendar-connections/current", headers=bearer(token))
            connection_id = current.json()["connection_id"]
            message, event = await _consume_until(kafka_bootstrap, connection_id)
            assert (await client.get("/readyz")).status_code == 200
    await browser.close()
    assert isinstance(event.data, CalendarConnectionLinked)
    assert event.data.account_email == "alice@example.com"
    assert event.tenantid == "acme"
    headers = dict(message.headers)
    assert headers["ce_type"] == CalendarConnectionLinked.cloudevent_type().encode()
    # Published means removed from the outbox.
    stored = await app.state.context.repos.connections.collection.get(connection_id)
    assert stored["outbox"] == []
