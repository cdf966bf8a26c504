"""Consumer of the auth service's calendar-connection events (group ``appointments-connections``).

Only ``CalendarConnectionLinked`` matters here: when the host links the bound account again, the
cancellations held for that connection are released to its calendar (R8, decision 0004). The
other events on the topic (deactivated, reauth-required, unlinked, room preference) need no
action: a change's R8 check asks the auth service itself.
"""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from appointments_service.service_layer.appointments import AppointmentService
from visitor_common import topics
from visitor_common.events import CalendarConnectionLinked, UnknownEventType, parse_event
from visitor_common.messaging import publish_dead_letter

log = logging.getLogger(__name__)

CONSUMER_GROUP = "appointments-connections"


def register_connections_handler(
    broker: KafkaBroker,
    service: AppointmentService,
    *,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 1_000,
) -> None:
    @broker.subscriber(
        topics.CONNECTIONS,
        group_id=CONSUMER_GROUP,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_connection_event(message: KafkaMessage) -> None:
        raw: bytes = message.body
        try:
            event = parse_event(raw)
        except (UnknownEventType, ValidationError, ValueError) as error:
            key = getattr(message.raw_message, "key", None)
            await publish_dead_letter(broker, topics.CONNECTIONS, raw, key, str(error))
            return
        if not isinstance(event.data, CalendarConnectionLinked):
            return
        # AuthUnavailable propagates: the message is not acknowledged and comes again.
        released = await service.release_held_for_link(event.data)
        if released:
            log.info(
                "held cancellations released",
                extra={"connection_id": event.data.connection_id, "appointments": released},
            )
