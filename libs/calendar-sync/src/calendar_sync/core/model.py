"""Value objects of the sync engine: desired calendar entries, what a provider reports about an
event, the applied state of one appointment, and the operations that bring one to the other.

Everything here is pure (no I/O) and provider-neutral.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from visitor_common.events.appointments import RoomRef


class EntryKind(StrEnum):
    HOLD = "hold"
    CONFIRMED = "confirmed"


class CalendarEntry(BaseModel):
    """One calendar event the system wants on the host's calendar.

    ``key`` names the intent, stable across versions: ``slot:<slot_id>``. A hold and the
    confirmed event for the same slot share the key, so confirming patches the hold's provider
    event into the confirmed one (same event id, room kept).
    """

    model_config = ConfigDict(frozen=True)

    key: str
    kind: EntryKind
    start: AwareDatetime
    end: AwareDatetime
    room: RoomRef | None = None
    title: str
    description: str = ""
    tentative: bool = False

    def content(self) -> dict[str, Any]:
        """The fields a provider stores, JSON-friendly; equality means "nothing to update"."""
        return self.model_dump(mode="json")


class EventMeta(BaseModel):
    """What the connector stamps on every event it writes (Google ``extendedProperties.private``,
    Graph ``singleValueExtendedProperties``), so it can later prove an event is its own."""

    model_config = ConfigDict(frozen=True)

    appointment_id: str
    tenant_id: str
    appointment_version: int
    entry_key: str


class RoomResponse(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needs_action"


class ProviderEvent(BaseModel):
    """A provider's event, normalised. ``cancelled`` is true for deleted events (Google keeps
    them with ``status: cancelled``; Graph reports ``@removed``)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    etag: str | None = None
    cancelled: bool = False
    start: datetime | None = None
    end: datetime | None = None
    title: str | None = None
    description: str | None = None
    room_email: str | None = None
    room_response: RoomResponse | None = None
    tentative: bool | None = None
    meta: EventMeta | None = None

    def is_ours(self, meta: EventMeta) -> bool:
        """Same appointment and same entry: a conflicting id is "already done", not a clash."""
        return (
            self.meta is not None
            and self.meta.appointment_id == meta.appointment_id
            and self.meta.entry_key == meta.entry_key
        )


@dataclass(frozen=True)
class ProviderAccess:
    """Everything a provider call needs to act as the host: a fresh token and the account."""

    connection_id: str
    account_email: str
    access_token: str
    tenant_id: str = ""


@dataclass(frozen=True)
class ChangePage:
    """Result of an incremental listing: every event changed since the cursor (all pages
    followed) and the cursor to use next time. ``full`` is true when it was a full listing."""

    events: list[ProviderEvent]
    next_cursor: str | None
    full: bool = False


@dataclass(frozen=True)
class BusyInterval:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class CalendarBusy:
    """Free/busy of one calendar (the host or a room). ``error`` when the provider could not
    tell (e.g. ``notFound``)."""

    busy: list[BusyInterval] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class PushChannel:
    """A provider push subscription (Google watch channel, Graph subscription)."""

    channel_id: str
    token: str
    resource_id: str | None
    expires_at: datetime


# ---------------------------------------------------------------- applied state


class AppliedEntry(BaseModel):
    """One entry as written to the provider: its id, etag and the content written."""

    key: str
    event_id: str
    generation: int = Field(ge=1)
    etag: str | None = None
    entry: CalendarEntry


class UnsettledCreate(BaseModel):
    """A create whose outcome is unknown: it failed (retries ran out, the provider refused it, a
    token could not be had) after a request that may have reached the provider — the event may
    exist, under the id ``generation`` gives it. The next plan settles it (see ``SettleOp``)."""

    entry: CalendarEntry
    generation: int = Field(ge=1)


class AppliedState(BaseModel):
    """Per appointment: what the connector last wrote and for which appointment version.

    ``generations`` survives deletions: an entry re-created after a release gets the next
    generation and so a fresh provider event id (Google never reuses a deleted event's id).
    ``revision`` is the storage CAS counter, not the appointment version.
    """

    appointment_id: str
    tenant_id: str
    connection_id: str
    account_email: str = ""
    appointment_version: int = 0
    revision: int = 0
    entries: dict[str, AppliedEntry] = Field(default_factory=dict)
    generations: dict[str, int] = Field(default_factory=dict)
    cancelled: bool = False
    last_state: str | None = None
    last_reason: str | None = None
    last_message: str | None = None
    reported_drift: list[dict[str, Any]] = Field(default_factory=list)
    unsettled: dict[str, UnsettledCreate] = Field(default_factory=dict)
    """Creates that failed with an unknown outcome, by entry key, until a later plan settles
    them: an earlier attempt of the same create may have made the event (a connector killed
    between the provider's answer and the store keeps no record of it)."""
    indexed_event_ids: list[str] = Field(default_factory=list)
    """Provider event ids already recorded in the event index (``AppliedStateRepository``), so
    that only a newly created event costs an index write."""

    def event_ids(self) -> dict[str, str]:
        return {key: applied.event_id for key, applied in sorted(self.entries.items())}

    def next_generation(self, key: str) -> int:
        return self.generations.get(key, 0) + 1


# ---------------------------------------------------------------- operations


@dataclass(frozen=True)
class CreateOp:
    entry: CalendarEntry
    generation: int


@dataclass(frozen=True)
class UpdateOp:
    entry: CalendarEntry
    applied: AppliedEntry
    restores: bool = False  # rewrites an event edited behind our back (drift)

    @property
    def claims_nothing_new(self) -> bool:
        """Keeps the event where we put it (same start, end and room), so it asks the calendar
        for no time and no room a release might be freeing: a confirmation's patch of the chosen
        hold. A restore is never counted as one: the event may have been moved since."""
        before = self.applied.entry
        return not self.restores and (self.entry.start, self.entry.end, self.entry.room) == (
            before.start,
            before.end,
            before.room,
        )


@dataclass(frozen=True)
class DeleteOp:
    applied: AppliedEntry


@dataclass(frozen=True)
class SettleOp:
    """Removes the event an unsettled create may have made, for an entry no longer wanted: the
    create is repeated under the same id — the provider answers with the event it already
    holds (Graph's ``transactionId``; Google's 409 on the id) or makes it now — and the event
    it names is deleted. Certain either way, at the cost of a short-lived event when the first
    attempt never reached the provider."""

    unsettled: UnsettledCreate

    @property
    def entry(self) -> CalendarEntry:
        return self.unsettled.entry


Operation = CreateOp | UpdateOp | DeleteOp | SettleOp


@dataclass(frozen=True)
class SyncPlan:
    """Operations in a safe order: deletes (releases) first, then updates, then creates (see
    :attr:`phases` for what runs at once)."""

    creates: list[CreateOp]
    updates: list[UpdateOp]
    deletes: list[DeleteOp]
    settles: list[SettleOp] = field(default_factory=list)

    @property
    def operations(self) -> list[Operation]:
        return [*self.deletes, *self.settles, *self.updates, *self.creates]

    @property
    def phases(self) -> list[list[Operation]]:
        """:attr:`operations` in phases (empty ones left out): the operations of one phase touch
        different provider events and run at once; a phase starts only when the one before it
        is done. Releases come before every write that claims a time or a room (a room freed by
        a release is free before a write asks for it); updates that claim nothing new run with
        the releases — so a confirmation (release the other holds, patch the chosen one) is one
        round trip."""
        in_place = [op for op in self.updates if op.claims_nothing_new]
        moving = [op for op in self.updates if not op.claims_nothing_new]
        phases: list[list[Operation]] = [
            [*self.deletes, *self.settles, *in_place],
            [*moving],
            [*self.creates],
        ]
        return [phase for phase in phases if phase]

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.deletes or self.settles)
