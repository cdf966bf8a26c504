"""The outbox relay's publish function: parse the stored envelope, publish it with
``visitor_common.messaging.publish_event`` (key = appointment id)."""

from __future__ import annotations

from collections import OrderedDict

from faststream.kafka import KafkaBroker

from visitor_common.events import parse_event
from visitor_common.messaging import publish_event
from visitor_common.outbox import OutboxEntry, Publisher


def kafka_publisher(broker: KafkaBroker, remember: int = 10_000) -> Publisher:
    """Publish an entry; an entry this process already published is skipped.

    The skip closes a window in which a change writes back an outbox entry the relay has just
    published and removed (full-document replace): it would otherwise go out twice.
    """
    published: OrderedDict[str, None] = OrderedDict()

    async def publish(entry: OutboxEntry) -> None:
        if entry.id in published:
            return
        await publish_event(broker, entry.topic, parse_event(entry.payload))
        published[entry.id] = None
        if len(published) > remember:
            published.popitem(last=False)

    return publish
