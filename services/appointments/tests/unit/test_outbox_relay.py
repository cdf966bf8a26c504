"""The outbox relay publishes what a change stored, on the routed topics (TestKafkaBroker)."""

from __future__ import annotations

import json

import pytest
from appointments_testkit import Harness
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from appointments_service.adapters.publisher import kafka_publisher
from visitor_common import topics
from visitor_common.events import CalendarSyncStatusReported, Provider, SyncState, new_event
from visitor_common.outbox import OutboxEntry


def collector(broker: KafkaBroker, topic: str, into: list[dict[str, object]]) -> None:
    @broker.subscriber(topic)
    async def collect(message: KafkaMessage) -> None:
        into.append({"key": message.raw_message.key, **json.loads(message.body)})  # type: ignore[union-attr]


async def test_relay_publishes_created_and_confirmed_on_the_routed_topics(h: Harness) -> None:
    h.directory.link("t1", "e1", Provider.GOOGLE)
    lifecycle: list[dict[str, object]] = []
    google: list[dict[str, object]] = []
    outlook: list[dict[str, object]] = []
    broker = h.container.broker
    collector(broker, topics.APPOINTMENT_LIFECYCLE, lifecycle)
    collector(broker, topics.GOOGLE_APPOINTMENTS, google)
    collector(broker, topics.OUTLOOK_APPOINTMENTS, outlook)
    async with TestKafkaBroker(broker):
        created = await h.create()
        token = created["guest_token"]
        picked = await h.client.post(
            f"/v1/guest/appointments/{token}/pick", json={"slot_id": created["candidates"][0]["slot_id"]}
        )
        assert await h.container.relay.drain() == 4
        assert await h.container.relay.drain() == 0
    assert await h.outbox(created["appointment_id"]) == []
    code = picked.json()["reception_code"]
    assert [e["type"] for e in lifecycle] == [
        "jp.visitor-scheduling.appointment.created.v1",
        "jp.visitor-scheduling.appointment.confirmed.v1",
    ]
    assert [e["appointmentversion"] for e in google] == [1, 2]
    assert all(e["key"] == created["appointment_id"].encode() for e in lifecycle + google)
    assert lifecycle[1]["data"]["reception_code"] == code  # type: ignore[index]
    assert google[1]["data"]["reception_code"] is None  # type: ignore[index]
    assert outlook == []


async def test_the_publisher_keeps_no_memory_of_what_it_sent() -> None:
    # Nothing can write a published entry back (changes only append to the outbox), so the
    # publisher needs no guard; a true duplicate (crash before the removal, two replicas) is the
    # consumers' to drop by event id.
    sent: list[str] = []

    class Broker:
        async def publish(self, body: bytes, *, topic: str, key: bytes, headers: dict[str, str]) -> None:
            sent.append(topic)

    publish = kafka_publisher(Broker())  # type: ignore[arg-type]
    report = CalendarSyncStatusReported(
        appointment_id="a1",
        tenant_id="t1",
        provider=Provider.GOOGLE,
        connection_id="c1",
        appointment_version=1,
        state=SyncState.SYNCED,
    )
    event = new_event(report, source="/test", subject="a1", tenant_id="t1", appointment_version=1)
    entry = OutboxEntry.for_event("t", event)
    await publish(entry)
    await publish(entry)
    assert sent == ["t", "t"]


async def test_a_failed_publish_is_retried_later(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    created = await h.create()

    async with TestKafkaBroker(h.container.broker) as broker:

        async def down(*args: object, **kwargs: object) -> None:
            raise ConnectionError("broker down")

        monkeypatch.setattr(broker, "publish", down)
        assert await h.container.relay.drain() == 0
        assert len(await h.outbox(created["appointment_id"])) == 1
        monkeypatch.undo()
        assert await h.container.relay.drain() == 1
    assert await h.outbox(created["appointment_id"]) == []
