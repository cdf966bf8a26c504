"""Duplicate and out-of-order deliveries: records already consumed are produced again, as a
producer retry or a replay would, newest first (out of order) and then oldest first (plain
duplicates), with their keys, values and headers unchanged. Nothing may change beyond the first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from visitor_common import topics

TOPICS = (topics.GOOGLE_APPOINTMENTS, topics.OUTLOOK_APPOINTMENTS, topics.SYNC_STATUS)
Record = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


async def records_of(bootstrap: str, keys: set[str]) -> list[Record]:
    """Every record so far on :data:`TOPICS` whose key is one of ``keys``, in log order."""
    partitions = await _partitions(bootstrap, TOPICS)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[Record] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=1000)
            for messages in batch.values():
                for m in messages:
                    if m.key is not None and m.key.decode() in keys:
                        found.append((m.topic, m.key, m.value, list(m.headers)))
        return found
    finally:
        await consumer.stop()


async def _partitions(bootstrap: str, names: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``names``. Asked of the admin API: a consumer's cached metadata holds
    only the topics it was told about (``consumer.topics()`` does not fill it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    found = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]
    assert found, f"no partitions found for {list(names)}"
    return sorted(found)


async def deliver_again(bootstrap: str, records: list[Record]) -> int:
    """Produce ``records`` again: each key's newest first, then all of them in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        replay = [*reversed(records), *records]
        for topic, key, value, headers in replay:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        return len(replay)
    finally:
        await producer.stop()


async def wait_consumed(bootstrap: str, topic_names: Iterable[str] = TOPICS, within: float = 180.0) -> None:
    """Until every consumer group reading ``topic_names`` has committed up to their ends."""
    wanted = set(topic_names)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    deadline = time.monotonic() + within
    behind: dict[str, int] = {}
    try:
        while time.monotonic() < deadline:
            behind = await _lag(admin, consumer, wanted)
            if not any(behind.values()):
                return
            await asyncio.sleep(1.0)
        raise AssertionError(f"consumer groups still behind after {within}s: {behind}")
    finally:
        await consumer.stop()
        await admin.close()


async def _lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, wanted: set[str]) -> dict[str, int]:
    behind: dict[str, int] = {}
    for group, _ in await admin.list_consumer_groups():
        committed = await admin.list_consumer_group_offsets(group)
        mine = {tp: m.offset for tp, m in committed.items() if tp.topic in wanted and m.offset >= 0}
        if not mine:
            continue
        ends = await consumer.end_offsets(list(mine))
        behind[group] = sum(max(0, ends[tp] - offset) for tp, offset in mine.items())
    return behind
