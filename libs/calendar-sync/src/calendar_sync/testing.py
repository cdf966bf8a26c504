"""An in-memory ``CalendarProvider`` (Google-like: client-chosen ids, deleted events kept as
cancelled) and a fake ``TokenSource``, for the engine's tests and the connectors' unit tests;
``wait_until``, the one way their tests wait for an outcome."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from calendar_sync.core.errors import (
    AccessTokenRejected,
    EventAlreadyExists,
    EventNotFound,
    PermissionMissing,
    ProviderError,
    SyncCursorInvalid,
)
from calendar_sync.core.ids import google_event_id
from calendar_sync.core.model import (
    BusyInterval,
    CalendarBusy,
    CalendarEntry,
    ChangePage,
    EventMeta,
    ProviderAccess,
    ProviderEvent,
    PushChannel,
    RoomResponse,
)
from visitor_common.contracts.availability import Room, RoomGroup
from visitor_common.contracts.connections import AccessTokenGrant
from visitor_common.events.appointments import (
    AppointmentSnapshot,
    AppointmentStatus,
    CalendarBinding,
    CandidateSlot,
    Guest,
    Provider,
    RoomRef,
)

BASE = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    within: float = 60.0,
    interval: float = 0.02,
    what: str = "the awaited outcome",
) -> T:
    """Poll ``predicate`` (sync or async) until it returns something truthy, and return that.

    Tests wait on the outcome they expect, never for a fixed time: the deadline is generous
    (a slow shared machine only makes a test slower, not red) and is no latency assertion."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = predicate()
        value = await result if inspect.isawaitable(result) else result
        if value:
            return value  # type: ignore[return-value]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {within}s")
        await asyncio.sleep(interval)


def partitions_per_instance(brokers: Iterable[Any], topic: str) -> list[int]:
    """How many partitions of ``topic`` each connector instance (one FastStream Kafka broker
    each) holds right now, over all its consumers of the topic."""
    held = []
    for broker in brokers:
        count = 0
        for subscriber in broker.subscribers:
            if topic not in subscriber.topic_names_for_subscribe:
                continue
            consumers = getattr(subscriber, "consumer_subgroup", None) or [subscriber.consumer]
            count += sum(len([tp for tp in c.assignment() if tp.topic == topic]) for c in consumers if c)
        held.append(count)
    return held


def topic_partitions(brokers: Iterable[Any], topic: str) -> int | None:
    """How many partitions ``topic`` has, from the metadata the instances' consumers hold (the
    topic may have been created earlier by another suite with another partition count)."""
    for broker in brokers:
        for subscriber in broker.subscribers:
            if topic not in subscriber.topic_names_for_subscribe:
                continue
            consumers = getattr(subscriber, "consumer_subgroup", None) or [subscriber.consumer]
            for consumer in consumers:
                known = consumer.partitions_for_topic(topic) if consumer else None
                if known:
                    return len(known)
    return None


def group_settled(brokers: Iterable[Any], topic: str, partitions: int | None = None) -> bool:
    """Every instance holds some of ``topic``'s partitions and together they hold them all (the
    consumer group has finished rebalancing onto all its members). ``partitions`` defaults to
    the topic's actual count."""
    brokers = list(brokers)
    expected = partitions if partitions is not None else topic_partitions(brokers, topic)
    held = partitions_per_instance(brokers, topic)
    return expected is not None and all(held) and sum(held) == expected


@dataclass
class _Stored:
    event: ProviderEvent
    seq: int


@dataclass
class FakeCalendarProvider:
    """In-memory calendar of one account. ``fail(method, error, times)`` queues failures."""

    provider: Provider = Provider.GOOGLE
    max_calendars_per_free_busy: int = 50
    valid_tokens: set[str] | None = None
    declining_rooms: set[str] = field(default_factory=set)
    groups: list[RoomGroup] = field(default_factory=list)
    rooms: list[Room] = field(default_factory=list)
    busy: dict[str, list[BusyInterval]] = field(default_factory=dict)
    directory_forbidden: bool = False
    events: dict[str, _Stored] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    channels: dict[str, PushChannel] = field(default_factory=dict)
    _failures: dict[str, deque[ProviderError]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _etags: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _min_cursor: int = 0

    # ------------------------------------------------------------ test controls

    def fail(self, method: str, error: ProviderError, times: int = 1) -> None:
        queue = self._failures.setdefault(method, deque())
        queue.extend([error] * times)

    def live(self) -> list[ProviderEvent]:
        return [s.event for s in self.events.values() if not s.event.cancelled]

    def edit(self, event_id: str, **changes: Any) -> None:
        """A direct edit by the user in the calendar (drift)."""
        stored = self.events[event_id]
        self._store(stored.event.model_copy(update={**changes, "etag": f'"{next(self._etags)}"'}))

    def delete_directly(self, event_id: str) -> None:
        self.edit(event_id, cancelled=True)

    def expire_cursors(self) -> None:
        self._min_cursor = next(self._seq)

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)

    # ------------------------------------------------------------ CalendarProvider

    def client_id_for(self, meta: EventMeta, generation: int) -> str:
        return google_event_id(meta.appointment_id, meta.entry_key, generation)

    async def create_event(
        self, access: ProviderAccess, client_id: str, entry: CalendarEntry, meta: EventMeta
    ) -> ProviderEvent:
        self._enter("create_event", access, client_id)
        if client_id in self.events:
            raise EventAlreadyExists(
                "The requested identifier already exists.", status=409, reason="duplicate"
            )
        return self._store(self._render(client_id, entry, meta))

    async def update_event(
        self, access: ProviderAccess, event_id: str, entry: CalendarEntry, meta: EventMeta, etag: str | None
    ) -> ProviderEvent:
        self._enter("update_event", access, event_id)
        if event_id not in self.events:
            raise EventNotFound("Not Found", status=404, reason="notFound")
        return self._store(self._render(event_id, entry, meta))

    async def delete_event(self, access: ProviderAccess, event_id: str) -> None:
        self._enter("delete_event", access, event_id)
        stored = self.events.get(event_id)
        if stored is None:
            raise EventNotFound("Not Found", status=404, reason="notFound")
        if stored.event.cancelled:
            raise EventNotFound("Resource has been deleted", status=410, reason="deleted")
        self._store(stored.event.model_copy(update={"cancelled": True}))

    async def get_event(self, access: ProviderAccess, event_id: str) -> ProviderEvent | None:
        self._enter("get_event", access, event_id)
        stored = self.events.get(event_id)
        return stored.event if stored else None

    async def list_changes(self, access: ProviderAccess, cursor: str | None) -> ChangePage:
        self._enter("list_changes", access, cursor or "")
        since = int(cursor) if cursor else 0
        if cursor is not None and since < self._min_cursor:
            raise SyncCursorInvalid("Sync token is no longer valid", status=410, reason="fullSyncRequired")
        events = self.live() if cursor is None else [s.event for s in self.events.values() if s.seq > since]
        top = max((s.seq for s in self.events.values()), default=0)
        return ChangePage(events=events, next_cursor=str(max(top, self._min_cursor)), full=cursor is None)

    async def free_busy(
        self, access: ProviderAccess, calendars: list[str], start: datetime, end: datetime
    ) -> dict[str, CalendarBusy]:
        self._enter("free_busy", access, ",".join(calendars))
        assert len(calendars) <= self.max_calendars_per_free_busy
        answer: dict[str, CalendarBusy] = {}
        for calendar in calendars:
            intervals = [b for b in self.busy.get(calendar, []) if b.start < end and b.end > start]
            for event in self.live():
                mine = calendar in {access.account_email, event.room_email}
                if mine and event.start and event.end and event.start < end and event.end > start:
                    intervals.append(BusyInterval(event.start, event.end))
            answer[calendar] = CalendarBusy(busy=intervals)
        return answer

    async def list_room_groups(self, access: ProviderAccess) -> list[RoomGroup]:
        self._enter("list_room_groups", access, "")
        if self.directory_forbidden:
            raise PermissionMissing(
                "Not Authorized to access this resource/api", code="directory_permission_missing"
            )
        return list(self.groups)

    async def list_rooms(self, access: ProviderAccess, group_id: str | None) -> list[Room]:
        self._enter("list_rooms", access, group_id or "")
        return [r for r in self.rooms if group_id is None or r.group_id == group_id]

    # ------------------------------------------------------------ SupportsPush

    async def open_channel(
        self, access: ProviderAccess, *, channel_id: str, token: str, address: str, ttl_seconds: int
    ) -> PushChannel:
        self._enter("open_channel", access, channel_id)
        channel = PushChannel(
            channel_id, token, f"res-{channel_id}", datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        )
        self.channels[channel_id] = channel
        return channel

    async def stop_channel(self, access: ProviderAccess, channel: PushChannel) -> None:
        self._enter("stop_channel", access, channel.channel_id)
        self.channels.pop(channel.channel_id, None)

    # ------------------------------------------------------------ internals

    def _enter(self, method: str, access: ProviderAccess, detail: str) -> None:
        self.calls.append((method, detail))
        if self.valid_tokens is not None and access.access_token not in self.valid_tokens:
            raise AccessTokenRejected("Invalid Credentials", status=401, reason="authError")
        queue = self._failures.get(method)
        if queue:
            raise queue.popleft()

    def _render(self, event_id: str, entry: CalendarEntry, meta: EventMeta) -> ProviderEvent:
        room = str(entry.room.email) if entry.room else None
        response = None
        if room is not None:
            response = RoomResponse.DECLINED if room in self.declining_rooms else RoomResponse.ACCEPTED
        return ProviderEvent(
            event_id=event_id,
            etag=f'"{next(self._etags)}"',
            start=entry.start,
            end=entry.end,
            title=entry.title,
            description=entry.description,
            room_email=room,
            room_response=response,
            tentative=entry.tentative,
            meta=meta,
        )

    def _store(self, event: ProviderEvent) -> ProviderEvent:
        self.events[event.event_id] = _Stored(event, next(self._seq))
        return event


@dataclass
class FakeTokens:
    """A ``TokenSource``: hands out ``token-<n>``; ``force_refresh`` issues the next one.
    ``unavailable``: that many refreshes fail first, as while the auth service restarts."""

    reauth_required: set[str] = field(default_factory=set)
    issued: int = 0
    refreshes: int = 0
    current: dict[str, str] = field(default_factory=dict)
    unavailable: int = 0

    async def access_token(self, connection_id: str, *, force_refresh: bool = False) -> AccessTokenGrant:
        from calendar_sync.core.errors import AuthServiceUnavailable, ReauthRequired

        if connection_id in self.reauth_required:
            raise ReauthRequired("The Google account must be linked again.")
        if force_refresh and self.unavailable:
            self.unavailable -= 1
            raise AuthServiceUnavailable("auth service request failed: ConnectError")
        if force_refresh or connection_id not in self.current:
            self.issued += 1
            self.refreshes += int(force_refresh)
            self.current[connection_id] = f"token-{self.issued}"
        return AccessTokenGrant(
            connection_id=connection_id,
            provider=Provider.GOOGLE,
            access_token=self.current[connection_id],
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )


def make_snapshot(
    *,
    appointment_id: str = "appt-1",
    version: int = 1,
    status: AppointmentStatus = AppointmentStatus.PROPOSED,
    slots: int = 3,
    confirmed: str | None = None,
    hold: bool = True,
    provider: Provider = Provider.GOOGLE,
    title: str = "Visit from ACME",
    rooms: bool = True,
    tenant_id: str = "tenant-1",
    connection_id: str = "conn-1",
    shift_minutes: int = 0,
) -> AppointmentSnapshot:
    candidates = tuple(
        CandidateSlot(
            slot_id=f"s{i}",
            start=BASE + timedelta(days=i, minutes=shift_minutes),
            end=BASE + timedelta(days=i, hours=1, minutes=shift_minutes),
            room=RoomRef(email=f"room{i}@example.com", name=f"Room {i}") if rooms else None,
        )
        for i in range(1, slots + 1)
    )
    return AppointmentSnapshot(
        appointment_id=appointment_id,
        tenant_id=tenant_id,
        version=version,
        host_employee_id="emp-1",
        host_email="host@example.com",
        title=title,
        notes="Bring ID",
        guests=(Guest(name="Guest", company="ACME", email="guest@acme.example"),),
        duration_minutes=60,
        status=status,
        candidates=candidates,
        hold_candidates=hold,
        confirmed_slot_id=confirmed,
        binding=CalendarBinding(
            provider=provider, connection_id=connection_id, account_email="host@example.com"
        ),
    )
