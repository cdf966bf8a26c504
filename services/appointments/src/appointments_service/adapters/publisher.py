"""The outbox relay's publish function: parse the stored envelope, publish it with
``visitor_common.messaging.publish_event`` (key = appointment id).

No memory of what was sent: a change only appends to the outbox, so a published and removed
entry never comes back; what may still repeat (a crash between the broker's ack and the
removal, two replicas' relays reading the same entry) the consumers drop by event id
(docs/decisions/0003-embedded-outbox.md)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from visitor_common.events import parse_event
from visitor_common.messaging import publish_event
from visitor_common.outbox import OutboxEntry, Publisher


def kafka_publisher(broker: KafkaBroker) -> Publisher:
    """Publish an entry on its topic."""

    async def publish(entry: OutboxEntry) -> None:
        await publish_event(broker, entry.topic, parse_event(entry.payload))

    return publish
