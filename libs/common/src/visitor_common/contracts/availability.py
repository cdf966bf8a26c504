"""Rooms and availability API served identically by both connectors (``/v1``).

A client (the appointments service, the admin console) never cares which provider answers:
Google buildings and Microsoft room lists are both a ``RoomGroup``.

Routes (on each connector, with the employee's bearer token):
- ``GET  /v1/rooms`` → :class:`RoomDirectory`
- ``POST /v1/availability`` (:class:`AvailabilityQuery`) → :class:`AvailabilityAnswer`
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from visitor_common.email import EmailStr
from visitor_common.events.appointments import Provider

MAX_SLOTS_PER_QUERY = 10
MAX_ROOMS_PER_QUERY = 40
# A slot is one meeting: a day at most. Providers cap their free/busy windows (Google's
# freeBusy refuses long ranges, Graph's getSchedule takes 62 days), so a longer or absurdly
# dated slot is refused here with a 422 instead of reaching the provider.
MAX_SLOT_LENGTH = timedelta(hours=24)
EARLIEST_SLOT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_SLOT = datetime(2100, 1, 1, tzinfo=UTC)


class RoomGroup(BaseModel):
    """A Google Workspace building or a Microsoft 365 room list (会議室グループ)."""

    id: str
    name: str


class Room(BaseModel):
    email: EmailStr
    name: str
    capacity: int | None = None
    group_id: str | None = None
    floor: str | None = None


class DirectoryWarning(BaseModel):
    """A directory entry left out because it does not validate (say, a room whose address is
    not an e-mail address): reported, never a 5xx, and never offered as a room."""

    code: str = Field("room_skipped", description="Stable code of the problem.")
    entry: str = Field(description="The entry's address (or name) as the directory has it, truncated.")
    reason: str
    group_id: str | None = Field(None, description="The building / room list the entry belongs to.")


class RoomDirectory(BaseModel):
    """Rooms the employee can book. While ``selection_required`` is true the employee must pick
    one of ``choices`` first (R4/R5) and ``rooms`` is empty."""

    provider: Provider
    selection_required: bool
    choices: list[RoomGroup] = Field(default_factory=list)
    selected: RoomGroup | None = None
    rooms: list[Room] = Field(default_factory=list)
    warnings: list[DirectoryWarning] = Field(
        default_factory=list, description="Directory entries left out of ``rooms`` and why."
    )


class TimeSlot(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeSlot:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_SLOT_LENGTH:
            raise ValueError("a slot may last at most 24 hours")
        if self.start < EARLIEST_SLOT or self.end > LATEST_SLOT:
            raise ValueError("a slot must lie between the years 2000 and 2100")
        return self


class AvailabilityQuery(BaseModel):
    slots: list[TimeSlot] = Field(min_length=1, max_length=MAX_SLOTS_PER_QUERY)
    room_emails: list[EmailStr] = Field(default_factory=list, max_length=MAX_ROOMS_PER_QUERY)
    include_preferred_rooms: bool = Field(
        False, description="Also check every room of the employee's chosen building / room list."
    )


class BusyPeriod(BaseModel):
    start: AwareDatetime
    end: AwareDatetime


class RoomAvailability(BaseModel):
    email: EmailStr
    free: bool
    error: str | None = Field(None, description="Set when the provider could not tell (e.g. notFound).")


class SlotAvailability(BaseModel):
    start: AwareDatetime
    end: AwareDatetime
    host_free: bool
    host_busy: list[BusyPeriod] = Field(default_factory=list)
    rooms: list[RoomAvailability] = Field(default_factory=list)

    @property
    def free_rooms(self) -> list[str]:
        return [r.email for r in self.rooms if r.free]


class AvailabilityAnswer(BaseModel):
    provider: Provider
    slots: list[SlotAvailability]
    warnings: list[DirectoryWarning] = Field(
        default_factory=list,
        description="With include_preferred_rooms: directory entries that were not checked and why.",
    )
