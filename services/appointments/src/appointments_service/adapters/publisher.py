"""The outbox relay's publish function: the stored envelope's bytes as they are, keyed by the
appointment id, with the CloudEvents headers (``visitor_common.messaging.outbox_publisher``).

The envelope was built and validated from the model when the change was stored, so it is not
parsed into a model and serialized again per send (issue 14: a pick's entries were).

No memory of what was sent: a change only appends to the outbox, so a published and removed
entry never comes back; what may still repeat (a crash between the broker's ack and the
removal, two replicas' relays reading the same entry) the consumers drop by event id
(docs/decisions/0003-embedded-outbox.md)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from visitor_common.messaging import outbox_publisher
from visitor_common.outbox import Publisher


def kafka_publisher(broker: KafkaBroker) -> Publisher:
    """Publish an entry on its topic."""
    return outbox_publisher(broker)
