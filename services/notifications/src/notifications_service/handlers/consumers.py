"""Subscribers of the lifecycle topic and the guest-message topic, one consumer group each.

Offsets are committed after a record is handled (``AckPolicy.NACK_ON_ERROR``): a record whose
mails were interrupted by a stop or a crash is read again after the restart, and the sent-mail
records make sure nothing that already went out goes out again. A record that cannot be handled
(malformed, unopenable, refused by SMTP after the retries) is dead-lettered as it came — still
sealed — so the partition keeps moving; only a failing dead-letter publish (broker gone) raises
and leaves the record to be read again.
"""

from __future__ import annotations

import logging

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from notifications_service.service_layer.delivery import DeliveryFailed
from notifications_service.service_layer.mails import UnopenableMessage
from notifications_service.service_layer.notify import NotificationService
from notifications_service.settings import Settings
from visitor_common import topics
from visitor_common.messaging import (
    ConsumedRecord,
    RecordHandler,
    event_or_dead_letter,
    publish_dead_letter,
    subscribe,
)

log = logging.getLogger(__name__)

SUBSCRIPTIONS = {topics.APPOINTMENT_LIFECYCLE: "lifecycle", topics.GUEST_MESSAGES: "guest-messages"}


def register_consumers(broker: KafkaBroker, service: NotificationService, settings: Settings) -> None:
    for topic, suffix in SUBSCRIPTIONS.items():
        subscribe(
            broker,
            topic,
            group_id=f"{settings.consumer_group}.{suffix}",
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        )(_handler(broker, service, topic))


def _handler(broker: KafkaBroker, service: NotificationService, topic: str) -> RecordHandler:
    async def on_record(message: ConsumedRecord) -> None:
        event = await event_or_dead_letter(broker, topic, message)
        if event is None:
            return
        try:
            outcome = await service.handle(event)
        except (UnopenableMessage, DeliveryFailed) as error:
            key = getattr(message.raw_message, "key", None)
            await publish_dead_letter(broker, topic, message.body, key, str(error))
            return
        if outcome.sent or outcome.skipped:
            log.info(
                "event handled",
                extra={
                    "event_id": event.id,
                    "type": event.type,
                    "sent": outcome.sent,
                    "skipped": outcome.skipped,
                },
            )

    return on_record
