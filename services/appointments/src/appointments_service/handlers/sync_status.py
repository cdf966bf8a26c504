"""Consumer of the connectors' ``CalendarSyncStatusReported`` events (group ``appointments``)."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy

from appointments_service.service_layer.appointments import AppointmentService
from visitor_common import topics
from visitor_common.events import CalendarSyncStatusReported
from visitor_common.messaging import ConsumedRecord, event_or_dead_letter, subscribe

log = logging.getLogger(__name__)

CONSUMER_GROUP = "appointments"


def register_sync_status_handler(
    broker: KafkaBroker,
    service: AppointmentService,
    *,
    session_timeout_ms: int = 10_000,
    heartbeat_interval_ms: int = 1_000,
    fetch_max_wait_ms: int = 500,
) -> None:
    @subscribe(
        broker,
        topics.SYNC_STATUS,
        fetch_max_wait_ms=fetch_max_wait_ms,  # on the confirmation path: see the settings
        group_id=CONSUMER_GROUP,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_sync_status(message: ConsumedRecord) -> None:
        event = await event_or_dead_letter(broker, topics.SYNC_STATUS, message, CalendarSyncStatusReported)
        if event is None:
            return
        accepted = await service.record_sync_status(event.data)
        log.info(
            "sync status %s",
            "recorded" if accepted else "ignored",
            extra={
                "appointment_id": event.data.appointment_id,
                "appointment_version": event.data.appointment_version,
            },
        )
