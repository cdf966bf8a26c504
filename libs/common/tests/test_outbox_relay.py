"""The outbox relay against a real broker: with Kafka down at the moment of a change the change
is kept, and once Kafka is back its event is published — exactly once per change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer

from devstack.tansu import TansuBroker
from visitor_common.events import (
    AppointmentCreated,
    AppointmentSnapshot,
    AppointmentStatus,
    CandidateSlot,
    new_event,
    parse_event,
)
from visitor_common.messaging import create_broker, ensure_topics, publish_event
from visitor_common.outbox import OutboxEntry, OutboxRelay, outbox_entries
from visitor_common.persistence import DocumentCollection, InMemoryDocumentStore
from visitor_common.settings import ServiceSettings
from visitor_common.topics import TopicSpec

pytestmark = pytest.mark.broker
START = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)


def created(appointment_id: str) -> tuple[str, AppointmentCreated]:
    snap = AppointmentSnapshot(
        appointment_id=appointment_id,
        tenant_id="t1",
        version=1,
        host_employee_id="e1",
        host_email="host@example.co.jp",
        title="Visit",
        duration_minutes=60,
        status=AppointmentStatus.PROPOSED,
        candidates=(CandidateSlot(slot_id="s1", start=START, end=START + timedelta(hours=1)),),
    )
    return appointment_id, AppointmentCreated(appointment=snap)


async def store_change(relay_coll: DocumentCollection, topic: str, appointment_id: str) -> str:
    subject, data = created(appointment_id)
    event = new_event(data, source="/test", subject=subject, tenant_id="t1", appointment_version=1)
    await relay_coll.insert({"_id": subject, "version": 1, "outbox": outbox_entries([(topic, event)])})
    return event.id


async def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[str]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    ids: list[str] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(ids) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            ids += [parse_event(m.value).id for msgs in batch.values() for m in msgs if m.value]
        # Linger briefly: a duplicate would arrive right behind the originals.
        batch = await consumer.getmany(timeout_ms=1000)
        ids += [parse_event(m.value).id for msgs in batch.values() for m in msgs if m.value]
    finally:
        await consumer.stop()
    return ids


async def test_events_wait_out_a_broker_outage_and_go_out_exactly_once(fresh_kafka: TansuBroker) -> None:
    kafka = fresh_kafka
    topic = f"outbox-{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        kafka_idempotent_producer=False,
        kafka_request_timeout_ms=2000,
    )
    await ensure_topics(kafka.bootstrap_servers, [TopicSpec(topic, 3)])
    broker = create_broker(settings)
    await broker.start()
    coll = InMemoryDocumentStore().collection("appointments")

    async def publish(entry: OutboxEntry) -> None:
        await publish_event(broker, entry.topic, parse_event(entry.payload))

    relay = OutboxRelay([coll], publish, poll_interval=0.2)
    restarted = TansuBroker(port=kafka.port)
    try:
        first = await store_change(coll, topic, "a-before")
        assert await relay.drain() == 1

        kafka.stop()  # Kafka goes down; changes keep being stored with their events.
        during = [await store_change(coll, topic, f"a-during-{i}") for i in range(3)]
        assert await relay.drain() == 0
        assert len(await coll.find_with_outbox(limit=10)) == 3  # kept, not lost

        restarted.start()  # Tansu is in memory: topics are gone, recreate.
        await ensure_topics(kafka.bootstrap_servers, [TopicSpec(topic, 3)])
        relay.start()
        for _ in range(100):
            if not await coll.find_with_outbox(limit=10):
                break
            await asyncio.sleep(0.2)
        assert await coll.find_with_outbox(limit=10) == []

        published = await consume_all(kafka.bootstrap_servers, topic, expected=3)
        assert sorted(published) == sorted(during)  # each change exactly once after the outage
        assert first not in published  # (pre-outage data died with the in-memory broker)
    finally:
        await relay.stop()
        await broker.stop()
        restarted.stop()
