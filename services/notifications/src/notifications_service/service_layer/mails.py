"""Which mails an event asks for: one per guest (or the host), composed by the domain.

The guest link and the reception code are opened from their sealed fields here, right before
composing, and live only inside the composed mail's text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifications_service.domain import compose
from notifications_service.domain.model import Mail, Recipient
from visitor_common.events import (
    AppointmentCancelled,
    AppointmentRescheduled,
    CloudEvent,
    GuestCheckedIn,
    GuestConfirmationRequested,
    GuestInvitationRequested,
)
from visitor_common.events.notifications import GUEST_URL_FIELD, RECEPTION_CODE_FIELD
from visitor_common.sealing import SealedSecret, Sealer, SealError, seal_context


class UnopenableMessage(Exception):
    """A guest message whose secret cannot be opened here (no key, unknown kid, tampered)."""


def _open(sealer: Sealer | None, secret: SealedSecret, appointment_id: str, field: str) -> str:
    if sealer is None:
        raise UnopenableMessage("NOTIFICATIONS_MAIL_SEAL_KEYS is not set: cannot open guest messages")
    try:
        return sealer.open(secret, seal_context(appointment_id, field))
    except SealError as error:
        raise UnopenableMessage(f"{field}: {error}") from error


def mails_for(event: CloudEvent[Any], *, sealer: Sealer | None, zone: ZoneInfo, now: datetime) -> list[Mail]:
    """The mails ``event`` asks for; none for events that tell nobody anything."""
    data = event.data
    if isinstance(data, GuestInvitationRequested):
        appointment = data.appointment
        url = _open(sealer, data.guest_url, appointment.appointment_id, GUEST_URL_FIELD)
        return [
            compose.invitation(
                appointment,
                guest,
                host_name=data.host_name,
                guest_url=url,
                link_expires_at=data.link_expires_at,
                zone=zone,
            )
            for guest in appointment.guests
        ]
    if isinstance(data, GuestConfirmationRequested):
        appointment = data.appointment
        code = _open(sealer, data.reception_code, appointment.appointment_id, RECEPTION_CODE_FIELD)
        confirmed = (
            compose.confirmation(
                appointment, guest, host_name=data.host_name, reception_code=code, zone=zone, stamp=now
            )
            for guest in appointment.guests
        )
        return [mail for mail in confirmed if mail is not None]
    if isinstance(data, AppointmentRescheduled):
        return [
            compose.rescheduled(data.appointment, guest, zone=zone, stamp=now)
            for guest in data.appointment.guests
        ]
    if isinstance(data, AppointmentCancelled):
        return [
            compose.cancelled(data.appointment, guest, zone=zone, stamp=now)
            for guest in data.appointment.guests
        ]
    if isinstance(data, GuestCheckedIn):
        host = Recipient(email=str(data.host_email), name=data.host_name)
        return [
            compose.checked_in(
                title=data.title,
                host=host,
                guests=data.guests,
                slot=data.slot,
                checked_in_at=data.checked_in_at,
                zone=zone,
            )
        ]
    return []
