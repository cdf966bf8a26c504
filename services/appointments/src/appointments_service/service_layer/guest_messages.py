"""The sealed guest messages a change adds to its outbox write (decision 0008).

The guest link and the reception code exist in plain text only in the request that made them;
what goes to the notifications service holds them sealed for their appointment and field, so
the broker, topic browsers and logs see ciphertext only. Without seal keys the service sends
no guest messages (``bootstrap`` warns once at start).
"""

from __future__ import annotations

from appointments_service.domain.model import Appointment, Changed
from visitor_common.events import GuestConfirmationRequested, GuestInvitationRequested
from visitor_common.events.notifications import GUEST_URL_FIELD, RECEPTION_CODE_FIELD
from visitor_common.sealing import Sealer, seal_context


def invitation(appointment: Appointment, guest_url: str, sealer: Sealer) -> GuestInvitationRequested:
    """Every guest's invitation to pick a slot, with the absolute link sealed."""
    link = appointment.guest_link
    return GuestInvitationRequested(
        appointment=appointment.snapshot(),
        host_name=None,  # the appointment knows only the host's address; the mail shows that
        guest_url=sealer.seal(guest_url, seal_context(appointment.appointment_id, GUEST_URL_FIELD)),
        link_expires_at=link.expires_at if link is not None else None,
    )


def confirmation(appointment: Appointment, code: str, sealer: Sealer) -> GuestConfirmationRequested:
    """Every guest's confirmation, with the reception code sealed."""
    return GuestConfirmationRequested(
        appointment=appointment.snapshot(),
        host_name=None,
        reception_code=sealer.seal(code, seal_context(appointment.appointment_id, RECEPTION_CODE_FIELD)),
    )


def with_invitation(changed: Changed, guest_url: str, sealer: Sealer | None) -> Changed:
    """``changed`` with the invitation after its own events (none without a sealer)."""
    if sealer is None:
        return changed
    return Changed(changed.appointment, (*changed.events, invitation(changed.appointment, guest_url, sealer)))


def with_confirmation(changed: Changed, code: str, sealer: Sealer | None) -> Changed:
    """``changed`` with the confirmation message after its own events (none without a sealer)."""
    if sealer is None:
        return changed
    return Changed(changed.appointment, (*changed.events, confirmation(changed.appointment, code, sealer)))
