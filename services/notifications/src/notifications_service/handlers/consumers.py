"""Subscribers of the lifecycle topic and the guest-message topic, one consumer group each.

Offsets are committed after a record is handled (``AckPolicy.NACK_ON_ERROR``): a record whose
mails were interrupted by a stop or a crash is read again after the restart, and the sent-mail
records make sure nothing that already went out goes out again. A record that cannot be handled
(malformed, unopenable, refused by SMTP after the retries) is dead-lettered as it came — still
sealed — so the partition keeps moving; only a failing dead-letter publish (broker gone) raises
and leaves the record to be read again.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from notifications_service.service_layer.delivery import DeliveryFailed
from notifications_service.service_layer.mails import UnopenableMessage
from notifications_service.service_layer.notify import NotificationService
from notifications_service.settings import Settings
from visitor_common import topics
from visitor_common.events import UnknownEventType, parse_event
from visitor_common.messaging import publish_dead_letter

log = logging.getLogger(__name__)

SUBSCRIPTIONS = {topics.APPOINTMENT_LIFECYCLE: "lifecycle", topics.GUEST_MESSAGES: "guest-messages"}


def _raw(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _why_unparsable(error: Exception) -> str:
    # Where and why, never the values: a malformed record may still hold a code or a link.
    if isinstance(error, ValidationError):
        places = [".".join(str(p) for p in e["loc"]) for e in error.errors(include_input=False)]
        return f"malformed event: {error.error_count()} invalid field(s): {places[:10]}"
    if isinstance(error, UnknownEventType):
        return str(error)
    return f"malformed event: {type(error).__name__}"


def register_consumers(broker: KafkaBroker, service: NotificationService, settings: Settings) -> None:
    for topic, suffix in SUBSCRIPTIONS.items():
        subscriber = broker.subscriber(
            topic,
            group_id=f"{settings.consumer_group}.{suffix}",
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        )
        subscriber(_handler(broker, service, topic))


def _handler(broker: KafkaBroker, service: NotificationService, topic: str) -> Any:
    async def on_record(message: KafkaMessage) -> None:
        raw = _raw(message.body)
        key = getattr(message.raw_message, "key", None)
        try:
            event = parse_event(raw)
        except (UnknownEventType, ValidationError, ValueError) as error:
            await publish_dead_letter(broker, topic, raw, key, _why_unparsable(error))
            return
        try:
            outcome = await service.handle(event)
        except (UnopenableMessage, DeliveryFailed) as error:
            await publish_dead_letter(broker, topic, raw, key, str(error))
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
