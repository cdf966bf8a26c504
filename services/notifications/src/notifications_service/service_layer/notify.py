"""The one use case: an event arrives → the mails it asks for go out, each once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from notifications_service.service_layer.delivery import Clock, MailDelivery, Outcome
from notifications_service.service_layer.mails import mails_for
from visitor_common.events import CloudEvent
from visitor_common.sealing import Sealer


@dataclass
class NotificationService:
    delivery: MailDelivery
    sealer: Sealer | None
    zone: ZoneInfo
    clock: Clock

    async def handle(self, event: CloudEvent[Any]) -> Outcome:
        """Raises ``UnopenableMessage`` or ``DeliveryFailed`` (both: dead-letter the event)."""
        mails = mails_for(event, sealer=self.sealer, zone=self.zone, now=self.clock())
        return await self.delivery.deliver(event.id, mails)
