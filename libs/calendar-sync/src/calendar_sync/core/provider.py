"""The ``CalendarProvider`` protocol: the only thing a connector implements per provider.

Implementations translate between the neutral model (``CalendarEntry``, ``ProviderEvent``,
``EventMeta``) and the provider's API, and map every failed HTTP answer through
``calendar_sync.core.classify.classify_http`` to the errors of ``calendar_sync.core.errors``
(``TransientProviderError`` with ``retry_after`` for 429/403-rate-limit/5xx,
``AccessTokenRejected`` for 401, ``EventAlreadyExists`` for a 409 on insert, ``EventNotFound``
for 404/410-deleted, ``SyncCursorInvalid``, ``PermissionMissing``, ``ProviderRejected``).
They do **not** retry, refresh tokens or keep state: the engine does that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from calendar_sync.core.model import (
    CalendarBusy,
    CalendarEntry,
    ChangePage,
    EventMeta,
    ProviderAccess,
    ProviderEvent,
    PushChannel,
)
from visitor_common.contracts.availability import Room, RoomGroup
from visitor_common.events.appointments import Provider


@runtime_checkable
class CalendarProvider(Protocol):
    """Calendar operations on the host's primary calendar, acting with ``access``."""

    provider: Provider
    max_calendars_per_free_busy: int
    """Batch size for ``free_busy`` (Google 50, Graph getSchedule 20)."""

    def client_id_for(self, meta: EventMeta, generation: int) -> str:
        """The deterministic client-chosen id of one incarnation of an entry (Google: the event
        id itself, base32hex — see ``ids.google_event_id``; Graph: the ``transactionId`` — see
        ``ids.transaction_id``). Same inputs, same id: that is what makes retries safe."""
        ...

    async def create_event(
        self, access: ProviderAccess, client_id: str, entry: CalendarEntry, meta: EventMeta
    ) -> ProviderEvent:
        """Insert with the client-chosen id; return the stored event (its ``event_id`` is what
        the engine keeps: equal to ``client_id`` on Google, server-assigned on Graph).
        Raise ``EventAlreadyExists`` if the id is taken; the engine then calls
        ``get_event(access, client_id)`` and adopts the event when ``is_ours(meta)``."""
        ...

    async def update_event(
        self,
        access: ProviderAccess,
        event_id: str,
        entry: CalendarEntry,
        meta: EventMeta,
        etag: str | None,
    ) -> ProviderEvent:
        """Write ``entry`` over the event (patch/update; undeletes a cancelled Google event)."""
        ...

    async def delete_event(self, access: ProviderAccess, event_id: str) -> None:
        """Delete; an already deleted or missing event may raise ``EventNotFound`` (= done)."""
        ...

    async def get_event(self, access: ProviderAccess, event_id: str) -> ProviderEvent | None:
        """The event (``cancelled=True`` if deleted) or None when unknown."""
        ...

    async def list_changes(self, access: ProviderAccess, cursor: str | None) -> ChangePage:
        """Events changed since ``cursor`` (all pages), or a full listing when ``cursor`` is
        None. Raise ``SyncCursorInvalid`` when the cursor expired."""
        ...

    async def free_busy(
        self, access: ProviderAccess, calendars: list[str], start: datetime, end: datetime
    ) -> dict[str, CalendarBusy]:
        """Busy intervals per calendar address (at most ``max_calendars_per_free_busy``)."""
        ...

    async def list_room_groups(self, access: ProviderAccess) -> list[RoomGroup]:
        """Buildings / room lists. Raise ``PermissionMissing`` when the account cannot read them."""
        ...

    async def list_rooms(self, access: ProviderAccess, group_id: str | None) -> list[Room]:
        """Rooms, of one group when ``group_id`` is given."""
        ...


@runtime_checkable
class SupportsPush(Protocol):
    """Optional: providers that can push change notifications (Google watch, Graph
    subscriptions). The engine's drift monitor opens, renews and stops channels."""

    async def open_channel(
        self, access: ProviderAccess, *, channel_id: str, token: str, address: str, ttl_seconds: int
    ) -> PushChannel: ...

    async def stop_channel(self, access: ProviderAccess, channel: PushChannel) -> None: ...
