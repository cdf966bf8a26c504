"""``python -m visitor_common.replay_dlq`` on the real broker: parked records go back to their
source topic unchanged, each once, and a dry run touches nothing."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker

from devstack.brokers import Broker
from visitor_common.messaging import ensure_topics, publish_dead_letter
from visitor_common.replay_dlq import REPLAYED_ERROR, REPLAYED_FROM, replay
from visitor_common.topics import TopicSpec, dead_letter_topic

DEADLINE = 60.0


async def park(bootstrap: str, source: str, records: list[tuple[bytes, bytes]], error: str) -> None:
    """Dead-letter ``records`` the way every consumer does (``publish_dead_letter``)."""
    broker = KafkaBroker(bootstrap)
    await broker.start()
    try:
        for key, value in records:
            await publish_dead_letter(broker, source, value, key, error)
    finally:
        await broker.stop()


async def read_all(bootstrap: str, topic: str, expected: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` once ``expected`` have arrived (polled, generous deadline)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + DEADLINE
        while len(found) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


async def test_replay_puts_parked_records_back_once(kafka_broker: Broker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    source = f"replay-test-{uuid.uuid4().hex[:8]}.v1"
    dlq = dead_letter_topic(source)
    await ensure_topics(bootstrap, [TopicSpec(source, 3), TopicSpec(dlq, 3)])
    parked = [(f"appt-{i}".encode(), f'{{"n": {i}}}'.encode()) for i in range(5)]
    await park(bootstrap, source, parked, "connection reauth_required")
    producer = {"idempotent_producer": kafka_broker.idempotent}

    listed = await replay(bootstrap, dlq, dry_run=True, **producer)
    assert len(listed) == 5 and all(r.target is None for r in listed)
    assert {r.error for r in listed} == {"connection reauth_required"}

    replayed = await replay(bootstrap, dlq, **producer)  # the dry run committed nothing
    assert len(replayed) == 5 and {r.target for r in replayed} == {source}
    back = await read_all(bootstrap, source, 5)
    assert sorted((r.key, r.value) for r in back) == sorted(parked)  # unchanged, keys kept
    for record in back:
        headers = dict(record.headers)
        assert headers[REPLAYED_FROM].decode().startswith(f"{dlq}:")
        assert headers[REPLAYED_ERROR] == b"connection reauth_required"
        assert b"x-source-topic" not in headers

    assert await replay(bootstrap, dlq, **producer) == []  # each record once
    await park(bootstrap, source, [(b"appt-9", b'{"n": 9}')], "again")
    # the command as an operator runs it
    flags = ["--idempotent-producer"] if kafka_broker.idempotent else []
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "visitor_common.replay_dlq",
        "--bootstrap-servers",
        bootstrap,
        "--topic",
        dlq,
        *flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(command.communicate(), DEADLINE)
    assert command.returncode == 0, err.decode()
    assert [json.loads(line)["error"] for line in out.decode().splitlines()] == ["again"]
    assert len(await read_all(bootstrap, source, 6)) == 6  # only the new one went back
