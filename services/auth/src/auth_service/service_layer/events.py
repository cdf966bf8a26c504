"""Build the CloudEvents of a connection (key = connection id)."""

from __future__ import annotations

from typing import Any

from auth_service.domain.models import CalendarConnection
from visitor_common.events import (
    CalendarConnectionDeactivated,
    CalendarConnectionLinked,
    CalendarConnectionReauthRequired,
    CalendarConnectionUnlinked,
    CloudEvent,
    EventData,
    RoomPreferenceChanged,
    new_event,
)


def _fields(connection: CalendarConnection) -> dict[str, Any]:
    return {
        "connection_id": connection.id,
        "tenant_id": connection.tenant_id,
        "employee_id": connection.employee_id,
        "provider": connection.provider,
        "account_email": connection.account_email,
    }


def _wrap(data: EventData, connection: CalendarConnection, source: str) -> CloudEvent[Any]:
    return new_event(data, source=source, subject=connection.id, tenant_id=connection.tenant_id)


def linked(connection: CalendarConnection, source: str) -> CloudEvent[Any]:
    return _wrap(CalendarConnectionLinked(**_fields(connection)), connection, source)


def deactivated(connection: CalendarConnection, source: str) -> CloudEvent[Any]:
    data = CalendarConnectionDeactivated(**_fields(connection), replaced_by=connection.replaced_by)
    return _wrap(data, connection, source)


def unlinked(connection: CalendarConnection, source: str) -> CloudEvent[Any]:
    return _wrap(CalendarConnectionUnlinked(**_fields(connection)), connection, source)


def reauth_required(connection: CalendarConnection, source: str) -> CloudEvent[Any]:
    return _wrap(CalendarConnectionReauthRequired(**_fields(connection)), connection, source)


def room_preference_changed(connection: CalendarConnection, source: str) -> CloudEvent[Any]:
    data = RoomPreferenceChanged(**_fields(connection), room_group_id=connection.room_group_id)
    return _wrap(data, connection, source)
