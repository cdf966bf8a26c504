"""Building the outbox entries of a change: CloudEvents envelopes, routed per R8."""

from __future__ import annotations

import uuid
from typing import Any

from appointments_service.domain.model import Appointment
from appointments_service.domain.rules import provider_topic
from visitor_common.events import AppointmentConfirmed, CloudEvent, EventData, new_event
from visitor_common.outbox import outbox_entries
from visitor_common.topics import APPOINTMENT_LIFECYCLE


def _envelope(data: EventData, appointment: Appointment, source: str, event_id: str) -> CloudEvent[Any]:
    return new_event(
        data,
        source=source,
        subject=appointment.appointment_id,
        tenant_id=appointment.tenant_id,
        appointment_version=appointment.version,
        event_id=event_id,
    )


def for_connector(data: EventData) -> EventData:
    """The connector topics never see the reception code (only the mail service needs it)."""
    if isinstance(data, AppointmentConfirmed) and data.reception_code is not None:
        return data.model_copy(update={"reception_code": None})
    return data


def routed_entries(appointment: Appointment, data: EventData, source: str) -> list[dict[str, Any]]:
    """Every event goes to the lifecycle topic; a bound appointment's also to its provider's
    topic — and to no other (R8, SPEC section 4)."""
    event_id = uuid.uuid4().hex
    routes: list[tuple[str, CloudEvent[Any]]] = [
        (APPOINTMENT_LIFECYCLE, _envelope(data, appointment, source, event_id))
    ]
    topic = provider_topic(appointment)
    if topic is not None:
        routes.append((topic, _envelope(for_connector(data), appointment, source, event_id)))
    return outbox_entries(routes)
