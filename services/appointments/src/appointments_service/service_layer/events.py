"""Where an appointment's events go, and in which envelope: the one place that decides routing.

Every event goes to the lifecycle topic; a bound appointment's also to its provider's topic —
and to no other (R8, SPEC section 4). The provider copy of ``AppointmentConfirmed`` carries no
reception code. Both copies share one CloudEvents id: they are the same event.

A cancellation made while the bound connection is unusable goes to the lifecycle topic at once
(mail and reception learn it is off) and its provider copy is held on the aggregate
(``held_calendar_change``); once the same connection is linked again, the release sends it to
that provider's topic only, so the lifecycle consumers do not hear of it twice (0004).

Two kinds of event never reach a connector: a guest's check-in (``GuestCheckedIn``, lifecycle
only: the front desk and the host's mail, not the calendar) and the sealed guest messages
(``GuestInvitationRequested`` / ``GuestConfirmationRequested``), which go to their own topic
only, for the notifications service (0008).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from appointments_service.domain.model import Appointment
from visitor_common.events import (
    AppointmentConfirmed,
    CloudEvent,
    EventData,
    GuestCheckedIn,
    new_event,
)
from visitor_common.events.notifications import GUEST_MESSAGE_EVENTS
from visitor_common.outbox import outbox_entries
from visitor_common.topics import APPOINTMENT_LIFECYCLE, GUEST_MESSAGES, appointments_topic_for


def provider_topic(appointment: Appointment) -> str | None:
    """R8: the bound provider's topic (``None`` when no calendar is linked, R2)."""
    return appointments_topic_for(appointment.binding.provider) if appointment.binding else None


def for_connector(data: EventData) -> EventData:
    """The connector topics never see the reception code (only the mail service needs it)."""
    if isinstance(data, AppointmentConfirmed) and data.reception_code is not None:
        return data.model_copy(update={"reception_code": None})
    return data


def routes(
    appointment: Appointment, data: EventData, *, released: bool = False
) -> list[tuple[str, EventData]]:
    """Each topic the event goes to, with the payload that topic may see; ``released``: a held
    calendar change now let through, for the provider's topic only."""
    if isinstance(data, GUEST_MESSAGE_EVENTS):
        return [] if released else [(GUEST_MESSAGES, data)]
    if isinstance(data, GuestCheckedIn):
        return [] if released else [(APPOINTMENT_LIFECYCLE, data)]
    found: list[tuple[str, EventData]] = [] if released else [(APPOINTMENT_LIFECYCLE, data)]
    topic = provider_topic(appointment)
    if topic is not None and appointment.held_calendar_change is None:
        found.append((topic, for_connector(data)))
    return found


def _envelope(data: EventData, appointment: Appointment, source: str, event_id: str) -> CloudEvent[Any]:
    return new_event(
        data,
        source=source,
        subject=appointment.appointment_id,
        tenant_id=appointment.tenant_id,
        appointment_version=appointment.version,
        event_id=event_id,
    )


def routed_entries(
    appointment: Appointment, events: Sequence[EventData], source: str, *, released: bool = False
) -> list[dict[str, Any]]:
    """The outbox entries of a change's events, in order, each routed by :func:`routes`."""
    envelopes: list[tuple[str, CloudEvent[Any]]] = []
    for data in events:
        event_id = uuid.uuid4().hex
        envelopes.extend(
            (topic, _envelope(payload, appointment, source, event_id))
            for topic, payload in routes(appointment, data, released=released)
        )
    return outbox_entries(envelopes)
