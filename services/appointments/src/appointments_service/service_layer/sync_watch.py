"""Wake-ups for readers waiting on an appointment's calendar-sync state (the long poll of
``GET /v1/appointments/{id}/sync``), so a waiting client is answered when the state changes
instead of polling for it."""

from __future__ import annotations

import asyncio
import weakref


class SyncChanges:
    """One ``asyncio.Event`` per appointment someone waits on, set when its sync state changes.

    Events live only while a waiter holds one (weak values), so appointments nobody watches
    cost nothing. A waiter takes the event *before* it reads the stored state, so a change
    stored between that read and the wait still wakes it.
    """

    def __init__(self) -> None:
        self._events: weakref.WeakValueDictionary[str, asyncio.Event] = weakref.WeakValueDictionary()

    def subscribe(self, appointment_id: str) -> asyncio.Event:
        event = self._events.get(appointment_id)
        if event is None:
            event = asyncio.Event()
            self._events[appointment_id] = event
        return event

    def changed(self, appointment_id: str) -> None:
        event = self._events.pop(appointment_id, None)
        if event is not None:
            event.set()


async def wait_for(event: asyncio.Event, seconds: float) -> bool:
    """Whether ``event`` was set within ``seconds``."""
    if seconds <= 0:
        return event.is_set()
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
