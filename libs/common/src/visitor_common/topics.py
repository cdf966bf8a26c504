"""The topic registry. Every topic name used anywhere comes from here.

Routing rule (SPEC section 4): an appointment bound to Google is published to
``GOOGLE_APPOINTMENTS`` only, one bound to Outlook to ``OUTLOOK_APPOINTMENTS`` only, so a
connector never even receives the other provider's appointments. Every appointment event also
goes to ``APPOINTMENT_LIFECYCLE`` for provider-agnostic consumers (mail, audit).

``GUEST_MESSAGES`` carries what a guest is told that needs a secret (the guest link, the
reception code, both sealed): the appointments service produces it, only the notifications
service consumes it (docs/decisions/0008-sealed-guest-messages.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from visitor_common.events.appointments import Provider

APPOINTMENT_LIFECYCLE = "appointments.lifecycle.v1"
GOOGLE_APPOINTMENTS = "calendar.google.appointments.v1"
OUTLOOK_APPOINTMENTS = "calendar.outlook.appointments.v1"
SYNC_STATUS = "calendar.sync-status.v1"
CONNECTIONS = "auth.calendar-connections.v1"
GUEST_MESSAGES = "notifications.guest-messages.v1"

PROVIDER_APPOINTMENT_TOPICS: dict[Provider, str] = {
    Provider.GOOGLE: GOOGLE_APPOINTMENTS,
    Provider.OUTLOOK: OUTLOOK_APPOINTMENTS,
}


def appointments_topic_for(provider: Provider) -> str:
    return PROVIDER_APPOINTMENT_TOPICS[provider]


def retry_topic(topic: str) -> str:
    """Where a message goes after its in-line retries are used up but it may succeed later."""
    return f"{topic}.retry"


def dead_letter_topic(topic: str) -> str:
    """Where a poison message goes, with its error in the headers; the partition moves on."""
    return f"{topic}.dlq"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int


def all_topics(partitions: int) -> list[TopicSpec]:
    """Every topic the system uses, for brokers without auto-creation (and for deploy/)."""
    base = [
        APPOINTMENT_LIFECYCLE,
        GOOGLE_APPOINTMENTS,
        OUTLOOK_APPOINTMENTS,
        SYNC_STATUS,
        CONNECTIONS,
        GUEST_MESSAGES,
    ]
    names = [*base, *(retry_topic(t) for t in base), *(dead_letter_topic(t) for t in base)]
    return [TopicSpec(name, partitions) for name in names]
