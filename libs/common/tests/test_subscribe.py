"""``messaging.subscribe``: a handler gets the consumed record as it came, undecoded."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, TestKafkaBroker

from devstack.brokers import Broker
from visitor_common.messaging import ConsumedRecord, create_broker, ensure_topics, start_broker, subscribe
from visitor_common.settings import ServiceSettings
from visitor_common.topics import TopicSpec


async def test_the_handler_gets_the_record_as_it_came() -> None:
    broker = KafkaBroker()
    seen: list[ConsumedRecord] = []

    @subscribe(broker, "things", group_id="g")
    async def on_thing(message: ConsumedRecord) -> None:
        seen.append(message)

    value = json.dumps({"specversion": "1.0", "data": {"n": 1}}).encode()
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(value, "things", key=b"k", headers={"content-type": "application/json"})

    [record] = seen
    assert record.body == value  # the bytes, not FastStream's JSON decoding of them
    assert record.raw_message.key == b"k"  # type: ignore[union-attr]
    assert record.headers["content-type"] == "application/json"
    assert await record.decode() is record  # our decoder ran, not FastStream's JSON one


@pytest.mark.broker
async def test_a_service_broker_logs_no_line_of_its_own_per_record_but_logs_a_failure(
    kafka_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = f"subscribe-test-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(bootstrap, [TopicSpec(topic, 1)])
    settings = ServiceSettings(
        service_name="svc",
        kafka_bootstrap_servers=bootstrap,
        kafka_idempotent_producer=kafka_broker.idempotent,
    )
    broker = create_broker(settings)
    handled: list[bytes] = []
    both = asyncio.Event()

    @subscribe(
        broker,
        topic,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK_FIRST,
    )
    async def on_thing(message: ConsumedRecord) -> None:
        handled.append(message.body)
        if len(handled) == 2:
            both.set()
        if message.body == b"boom":
            raise RuntimeError("handler failed")

    caplog.set_level(logging.DEBUG)
    await start_broker(broker)
    try:
        await broker.publish(b"fine", topic)
        await broker.publish(b"boom", topic)
        await asyncio.wait_for(both.wait(), 60)
    finally:
        await broker.stop()

    lines = [r for r in caplog.records if r.name == "svc.broker"]
    assert {r.getMessage() for r in lines if r.levelno == logging.DEBUG} >= {"Received", "Processed"}
    assert [
        r.getMessage()
        for r in lines
        if r.levelno == logging.INFO and r.getMessage() in ("Received", "Processed")
    ] == []
    assert any(r.levelno == logging.ERROR and "handler failed" in r.getMessage() for r in lines)
