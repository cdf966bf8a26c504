"""Versioned event contract: payload models, the CloudEvents envelope and a type registry."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from visitor_common.events.appointments import (
    APPOINTMENT_EVENTS,
    AppointmentCancelled,
    AppointmentConfirmed,
    AppointmentCreated,
    AppointmentDetailsUpdated,
    AppointmentRescheduled,
    AppointmentSnapshot,
    AppointmentStatus,
    CalendarBinding,
    CalendarRestoreRequested,
    CandidateSlot,
    Guest,
    Provider,
    RoomRef,
)
from visitor_common.events.connections import (
    CalendarConnectionDeactivated,
    CalendarConnectionLinked,
    CalendarConnectionReauthRequired,
    CalendarConnectionUnlinked,
    ConnectionStatus,
    RoomPreferenceChanged,
)
from visitor_common.events.envelope import CloudEvent, EventData, envelope_class, new_event
from visitor_common.events.notifications import (
    GUEST_MESSAGE_EVENTS,
    GuestConfirmationRequested,
    GuestInvitationRequested,
)
from visitor_common.events.reception import GuestCheckedIn
from visitor_common.events.sync import (
    CalendarSyncStatusReported,
    DriftChange,
    DriftKind,
    SyncFailureReason,
    SyncState,
)


class UnknownEventType(ValueError):
    """The envelope's ``type`` names no registered payload model (or a version we don't know)."""


EVENT_REGISTRY: dict[str, type[EventData]] = {
    model.cloudevent_type(): model
    for model in (
        *APPOINTMENT_EVENTS,
        GuestCheckedIn,
        *GUEST_MESSAGE_EVENTS,
        CalendarSyncStatusReported,
        CalendarConnectionLinked,
        CalendarConnectionDeactivated,
        CalendarConnectionUnlinked,
        CalendarConnectionReauthRequired,
        RoomPreferenceChanged,
    )
}


def parse_event(raw: bytes | str | dict[str, Any]) -> CloudEvent[Any]:
    """Validate an envelope and its payload against the model its ``type`` names.

    Raises ``UnknownEventType`` or pydantic's ``ValidationError``; both mean a poison message.
    """
    body: dict[str, Any] = json.loads(raw) if isinstance(raw, bytes | str) else raw
    event_type = body.get("type")
    model = EVENT_REGISTRY.get(str(event_type))
    if model is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    return envelope_class(model).model_validate(body)


UNPARSABLE = (UnknownEventType, ValidationError, ValueError)
"""What :func:`parse_event` raises for a record that is not one of our events (``ValueError``
covers malformed JSON and undecodable bytes)."""


def why_unparsable(error: Exception) -> str:
    """Where and why a record is not an event, never the values: a malformed record may still
    hold a reception code, a guest link or a token, and this text goes to logs and headers."""
    if isinstance(error, ValidationError):
        places = [".".join(str(p) for p in e["loc"]) for e in error.errors(include_input=False)]
        return f"malformed event: {error.error_count()} invalid field(s): {places[:10]}"
    if isinstance(error, UnknownEventType):
        return str(error)
    return f"malformed event: {type(error).__name__}"


def serialize_event(event: CloudEvent[Any]) -> bytes:
    return event.model_dump_json().encode()


__all__ = [
    "EVENT_REGISTRY",
    "UNPARSABLE",
    "AppointmentCancelled",
    "AppointmentConfirmed",
    "AppointmentCreated",
    "AppointmentDetailsUpdated",
    "AppointmentRescheduled",
    "AppointmentSnapshot",
    "AppointmentStatus",
    "CalendarBinding",
    "CalendarConnectionDeactivated",
    "CalendarConnectionLinked",
    "CalendarConnectionReauthRequired",
    "CalendarConnectionUnlinked",
    "CalendarRestoreRequested",
    "CalendarSyncStatusReported",
    "CandidateSlot",
    "CloudEvent",
    "ConnectionStatus",
    "DriftChange",
    "DriftKind",
    "EventData",
    "Guest",
    "GuestCheckedIn",
    "GuestConfirmationRequested",
    "GuestInvitationRequested",
    "Provider",
    "RoomPreferenceChanged",
    "RoomRef",
    "SyncFailureReason",
    "SyncState",
    "UnknownEventType",
    "envelope_class",
    "new_event",
    "parse_event",
    "serialize_event",
    "why_unparsable",
]
