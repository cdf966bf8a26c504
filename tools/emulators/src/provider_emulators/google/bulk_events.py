"""``POST /__emulator/calendars/{calendar_id}/events/bulk``: many events at once, for seeding.

Body ``{items: [Event, ...], notify?: false}`` → ``{items: [stored Event, ...], nextSyncToken}``,
the items in the same order; ``nextSyncToken`` is the calendar's sync token just after the
batch (an incremental listing from it starts after these events, as one that had read them).
Each item is inserted exactly as ``events.insert`` would (validation, client-chosen ``id``,
etag, sync sequence), but without a push notification per event: with ``notify: true`` the
calendar's channels get one notification after the whole batch, as after a person imported a
calendar file. A failing item (invalid, duplicate id) fails the request with Google's error;
the items before it stay inserted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from provider_emulators.core.faults import CONTROL_PREFIX
from provider_emulators.google.channels import ChannelService
from provider_emulators.google.context import GoogleEmulator
from provider_emulators.google.events import CalendarService


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(default_factory=list)
    notify: bool = False


class _Silent(ChannelService):
    """The channels, minus the per-event notification."""

    def notify(self, calendar_id: str) -> None:
        return None


class _Seeding(CalendarService):
    def sync_token_now(self, calendar_id: str) -> str:
        return self._sync_token(calendar_id, self.state.change_seq)


def build_bulk_events_router(emu: GoogleEmulator, channels: ChannelService) -> APIRouter:
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["emulator-control"])
    quiet = _Seeding(emu, _Silent(emu))  # same state, no push per insert

    @router.post("/calendars/{calendar_id}/events/bulk")
    async def bulk_insert(calendar_id: str, body: BulkIn) -> dict[str, Any]:
        stored = [quiet.insert(calendar_id, item) for item in body.items]
        if body.notify:
            channels.notify(calendar_id)
        return {"items": stored, "nextSyncToken": quiet.sync_token_now(calendar_id)}

    return router
