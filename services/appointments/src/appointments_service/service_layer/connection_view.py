"""The status of every calendar connection as the auth service announced it on
``auth.calendar-connections.v1``, kept in memory so the R8 check of a pick or a change needs no
call to the auth service.

The view is eventually consistent, like everything fed by the topic: a status change reaches it
a few milliseconds after the auth service stored it. A connection it has not heard of (the
process just started and has not read the topic that far, or the connection was linked a
moment ago) is not guessed at: the caller then asks the auth service.
"""

from __future__ import annotations

from visitor_common.events import (
    CalendarConnectionDeactivated,
    CalendarConnectionLinked,
    CalendarConnectionReauthRequired,
    CalendarConnectionUnlinked,
    ConnectionStatus,
    EventData,
)

# What each event says about the connection's status; other events (room preference) say nothing.
_STATUS_AFTER: dict[type[EventData], ConnectionStatus] = {
    CalendarConnectionLinked: ConnectionStatus.ACTIVE,
    CalendarConnectionDeactivated: ConnectionStatus.INACTIVE,
    CalendarConnectionReauthRequired: ConnectionStatus.REAUTH_REQUIRED,
    CalendarConnectionUnlinked: ConnectionStatus.UNLINKED,
}


class ConnectionStatusView:
    """Connection id → its latest announced status (events of one connection share a key, so
    they arrive in order)."""

    def __init__(self) -> None:
        self._statuses: dict[str, ConnectionStatus] = {}

    def apply(self, connection_id: str, data: EventData) -> None:
        status = _STATUS_AFTER.get(type(data))
        if status is not None:
            self._statuses[connection_id] = status

    def status(self, connection_id: str) -> ConnectionStatus | None:
        """The announced status; ``None`` when no event of this connection was read yet."""
        return self._statuses.get(connection_id)

    def __len__(self) -> int:
        return len(self._statuses)
