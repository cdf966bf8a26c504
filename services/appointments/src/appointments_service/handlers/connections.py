"""Consumer of the auth service's calendar-connection events (group ``appointments-connections``).

Only ``CalendarConnectionLinked`` matters here: when the host links the bound account again, the
cancellations held for that connection are released to its calendar (R8, decision 0004).

A second subscriber, in no consumer group, reads the whole topic from its start in every
process and keeps :class:`ConnectionStatusView` current, so the R8 check of a pick, a change or
a read is answered locally instead of by a call to the auth service per request. It needs every
partition (a group would share them out between the service's instances) and commits nothing.
"""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy

from appointments_service.service_layer.appointments import AppointmentService
from appointments_service.service_layer.connection_view import ConnectionStatusView
from visitor_common import topics
from visitor_common.events import UNPARSABLE, CalendarConnectionLinked, parse_event
from visitor_common.messaging import ConsumedRecord, event_or_dead_letter, subscribe

log = logging.getLogger(__name__)

CONSUMER_GROUP = "appointments-connections"


def register_connections_handler(
    broker: KafkaBroker,
    service: AppointmentService,
    *,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 1_000,
) -> None:
    @subscribe(
        broker,
        topics.CONNECTIONS,
        group_id=CONSUMER_GROUP,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_connection_event(message: ConsumedRecord) -> None:
        event = await event_or_dead_letter(broker, topics.CONNECTIONS, message)
        if event is None or not isinstance(event.data, CalendarConnectionLinked):
            return
        # AuthUnavailable propagates: the message is not acknowledged and comes again.
        released = await service.release_held_for_link(event.data)
        if released:
            log.info(
                "held cancellations released",
                extra={"connection_id": event.data.connection_id, "appointments": released},
            )


def register_connection_view(
    broker: KafkaBroker, view: ConnectionStatusView, *, fetch_max_wait_ms: int = 500
) -> None:
    """Feed ``view`` from the connections topic (all partitions, from the start, no group)."""

    @subscribe(
        broker,
        topics.CONNECTIONS,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        ack_policy=AckPolicy.ACK_FIRST,  # nothing to commit without a group
    )
    async def on_connection_status(message: ConsumedRecord) -> None:
        try:
            event = parse_event(message.body)
        except UNPARSABLE:
            return  # the group consumer above dead-letters it; the view just skips it
        connection_id = getattr(event.data, "connection_id", None)
        if isinstance(connection_id, str):
            view.apply(connection_id, event.data)
