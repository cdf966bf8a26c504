"""Publish outbox entries to Kafka with the CloudEvents headers."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from visitor_common.events import parse_event
from visitor_common.messaging import publish_event
from visitor_common.outbox import OutboxEntry, Publisher


def kafka_publisher(broker: KafkaBroker) -> Publisher:
    async def publish(entry: OutboxEntry) -> None:
        await publish_event(broker, entry.topic, parse_event(entry.payload))

    return publish
