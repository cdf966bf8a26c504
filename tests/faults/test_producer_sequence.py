"""The cause of "nothing syncs after a broker restart" (issue 13), on a real Apache Kafka.

An idempotent producer numbers its batches per partition. A batch it gives up on while the broker
restarts (LeaderNotAvailable) leaves a gap in those numbers, and the broker then rejects every
later batch to that partition with OutOfOrderSequenceNumber; aiokafka never recovers from it. The
connectors' sync status, their retry topic and the outbox relays all publish through
``visitor_common.messaging.publish_record``, which replaces such a producer and sends again.
Here the gap is made directly in the producer's numbering, the way a given-up batch leaves it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OutOfOrderSequenceNumber
from faststream.kafka import KafkaBroker as FastStreamBroker

from devstack.kafka import KafkaBroker
from visitor_common.messaging import current_producer, ensure_topics, publish_record
from visitor_common.topics import TopicSpec

pytestmark = [pytest.mark.faults, pytest.mark.broker, pytest.mark.timeout(180)]


async def test_a_producer_the_broker_lost_the_sequence_of_is_replaced_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    topic = f"sequence-{uuid.uuid4().hex[:8]}"
    with KafkaBroker(data_dir=tmp_path / "kafka") as kafka:
        await ensure_topics(kafka.bootstrap_servers, [TopicSpec(topic, 1)])
        broker = FastStreamBroker(kafka.bootstrap_servers, acks="all", enable_idempotence=True)
        await broker.connect()
        try:
            await publish_record(broker, b"before", topic=topic, key=b"k", headers={})
            stale = current_producer(broker)
            assert stale is not None
            # what a batch given up during a restart leaves: the producer's next number is ahead
            stale._txn_manager.increment_sequence_number(TopicPartition(topic, 0), 3)
            with pytest.raises(OutOfOrderSequenceNumber):  # the broker refuses it, as it would forever
                await broker.publish(b"refused", topic=topic, key=b"k")

            await publish_record(broker, b"after", topic=topic, key=b"k", headers={})
            await publish_record(broker, b"later", topic=topic, key=b"k", headers={})

            assert current_producer(broker) is not stale
            assert await _values(kafka.bootstrap_servers, topic) == [b"before", b"after", b"later"]
        finally:
            await broker.stop()


async def _values(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        values: list[bytes] = []
        while await consumer.position(partition) < end:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()
