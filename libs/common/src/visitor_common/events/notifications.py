"""Guest messages (v1): what the appointments service asks the notifications service to tell a
guest when the message needs a secret — the guest link, the reception code.

They travel on their own topic (``topics.GUEST_MESSAGES``: the appointments service produces,
only the notifications service consumes; no connector subscribes to it) and the secret fields
are :class:`~visitor_common.sealing.SealedSecret`, sealed with ``seal_context(appointment_id,
<field name>)``, so a topic browser or a log line shows ciphertext only
(docs/decisions/0008-sealed-guest-messages.md). Mails that need no secret (reschedule,
cancellation, arrival) come from the lifecycle topic.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from visitor_common.events.appointments import AppointmentSnapshot
from visitor_common.events.envelope import EventData
from visitor_common.sealing import SealedSecret

GUEST_URL_FIELD = "guest_url"
RECEPTION_CODE_FIELD = "reception_code"


class _GuestMessage(EventData):
    appointment: AppointmentSnapshot
    host_name: str | None = Field(None, max_length=200, description="Shown to the guest when known.")


class GuestInvitationRequested(_GuestMessage):
    """Invite every guest to pick a slot: the appointment was proposed, or its link reissued.
    ``guest_url`` opens with ``seal_context(appointment_id, "guest_url")``."""

    event_name: ClassVar[str] = "guest-message.invitation-requested"
    guest_url: SealedSecret
    link_expires_at: AwareDatetime | None = None


class GuestConfirmationRequested(_GuestMessage):
    """Tell every guest the confirmed date, time and place with the code to type at reception.
    ``reception_code`` opens with ``seal_context(appointment_id, "reception_code")``."""

    event_name: ClassVar[str] = "guest-message.confirmation-requested"
    reception_code: SealedSecret


GUEST_MESSAGE_EVENTS: tuple[type[_GuestMessage], ...] = (
    GuestInvitationRequested,
    GuestConfirmationRequested,
)
