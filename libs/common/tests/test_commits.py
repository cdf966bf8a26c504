"""Coalesced background offset commits (``visitor_common.commits``) on the real broker: a commit
covers what was handled when it was asked for, never a record fetched after; a clean stop sends
what is pending; every service's subscribers use them."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from devstack.brokers import Broker
from visitor_common.commits import CoalescingCommitConsumer
from visitor_common.messaging import ensure_topics, start_broker
from visitor_common.topics import TopicSpec

DEADLINE = 60.0


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(topic, f"record {n}".encode(), partition=0)
    finally:
        await producer.stop()


async def committed(bootstrap: str, group: str, topic: str) -> int | None:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await reader.start()
    try:
        return await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()


async def fresh_topic(bootstrap: str, records: int) -> tuple[str, str]:
    """A new one-partition topic holding ``records`` records, and a new group's name."""
    topic = f"commits-test-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(bootstrap, [TopicSpec(topic, 1)])
    await produce(bootstrap, topic, records)
    return topic, f"g-{uuid.uuid4().hex[:8]}"


async def started_consumer(bootstrap: str, topic: str, group: str) -> CoalescingCommitConsumer:
    consumer = CoalescingCommitConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest"
    )
    await consumer.start()
    return consumer


async def test_a_commit_covers_what_was_consumed_when_it_was_asked_for(kafka_broker: Broker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic, group = await fresh_topic(bootstrap, 3)
    consumer = await started_consumer(bootstrap, topic, group)
    try:
        first = await consumer.getone()
        await consumer.commit()  # "the first is handled"
        second = await consumer.getone()  # fetched, not handled: must not be committed
        await consumer.flushed()
        assert (first.offset, second.offset) == (0, 1)
        assert await consumer.committed(TopicPartition(topic, 0)) == 1
    finally:
        await consumer.stop()


async def test_a_clean_stop_sends_the_pending_commits(kafka_broker: Broker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic, group = await fresh_topic(bootstrap, 2)
    consumer = await started_consumer(bootstrap, topic, group)
    await consumer.getone()
    await consumer.getone()
    await consumer.commit()
    await consumer.stop()  # at once: the commit is still on its way
    assert await committed(bootstrap, group, topic) == 2


async def test_every_service_broker_commits_in_the_background(kafka_broker: Broker) -> None:
    """A service's own broker (``start_broker``) builds its consumers with coalescing commits;
    stopped right after the last record, its group resumes after it: nothing is read twice."""
    bootstrap = kafka_broker.bootstrap_servers
    topic, group = await fresh_topic(bootstrap, 20)
    handled: list[bytes] = []
    all_handled = asyncio.Event()
    broker = KafkaBroker(bootstrap)

    @broker.subscriber(
        topic, group_id=group, auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR
    )
    async def handle(body: bytes) -> None:
        handled.append(body)
        if len(handled) == 20:
            all_handled.set()

    await start_broker(broker)
    try:
        (subscriber,) = broker.subscribers
        assert isinstance(subscriber.consumer, CoalescingCommitConsumer)
        await asyncio.wait_for(all_handled.wait(), DEADLINE)
    finally:
        await broker.stop()
    assert await committed(bootstrap, group, topic) == 20
