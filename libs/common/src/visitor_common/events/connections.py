"""Calendar-connection events (v1), produced by the auth service."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from visitor_common.email import EmailStr
from visitor_common.events.appointments import Provider
from visitor_common.events.envelope import EventData


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    REAUTH_REQUIRED = "reauth_required"
    UNLINKED = "unlinked"


class _ConnectionEvent(EventData):
    connection_id: str
    tenant_id: str
    employee_id: str
    provider: Provider
    account_email: EmailStr


class CalendarConnectionLinked(_ConnectionEvent):
    event_name: ClassVar[str] = "calendar-connection.linked"


class CalendarConnectionDeactivated(_ConnectionEvent):
    """The employee linked another provider; the connection is kept but no longer active."""

    event_name: ClassVar[str] = "calendar-connection.deactivated"
    replaced_by: str | None = None


class CalendarConnectionUnlinked(_ConnectionEvent):
    event_name: ClassVar[str] = "calendar-connection.unlinked"


class CalendarConnectionReauthRequired(_ConnectionEvent):
    event_name: ClassVar[str] = "calendar-connection.reauth-required"


class RoomPreferenceChanged(_ConnectionEvent):
    event_name: ClassVar[str] = "calendar-connection.room-preference-changed"
    room_group_id: str | None = None
