"""Drift monitoring (R9), pushed and polled.

Per active calendar connection the ``DriftMonitor`` keeps a sync cursor and, when the provider
``SupportsPush`` and a public address is configured, a push channel with a random token. A
notification whose channel id and token match triggers an incremental sync for that
connection; anything else (unknown channel, wrong token) changes nothing. Polling every
``poll_seconds`` is the fallback and also renews channels before they expire.

An incremental sync compares the changed provider events with the applied state
(``drift.detect_drift``); new drift is reported once as a ``drifted`` status with the changes,
and with the tenant's ``restore`` policy the system's version is written back (then ``synced``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from calendar_sync.core.drift import DriftPolicy, detect_drift, drift_signature, in_flight
from calendar_sync.core.errors import (
    EventNotFound,
    ProviderError,
    SyncCursorInvalid,
    TokenError,
)
from calendar_sync.core.model import (
    AppliedState,
    ChangePage,
    ProviderEvent,
    PushChannel,
    RoomResponse,
)
from calendar_sync.core.provider import SupportsPush
from calendar_sync.engine.engine import ProviderSession, SyncEngine, Target
from calendar_sync.engine.locks import KeyedLocks
from calendar_sync.engine.state import ConnectionSync, ConnectionSyncRepository, StaleWrite
from visitor_common.events.sync import DriftChange, SyncFailureReason, SyncState

log = logging.getLogger(__name__)

PolicyResolver = Callable[[str], DriftPolicy]
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DriftMonitor:
    def __init__(
        self,
        engine: SyncEngine,
        connections: ConnectionSyncRepository,
        *,
        policy_for: PolicyResolver = lambda _tenant: DriftPolicy.REPORT,
        push_address: str | None = None,
        channel_ttl_seconds: int = 3600,
        renew_before_seconds: int = 600,
        clock: Clock = _utcnow,
    ) -> None:
        self.engine = engine
        self.connections = connections
        self.policy_for = policy_for
        self.push_address = push_address
        self.channel_ttl_seconds = channel_ttl_seconds
        self.renew_before = timedelta(seconds=renew_before_seconds)
        self._clock = clock
        self._running: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._poller: asyncio.Task[None] | None = None
        self.forged_notifications = 0
        self.notifications = 0
        self._known: set[str] = set()
        self._channel_locks = KeyedLocks()

    @property
    def push_enabled(self) -> bool:
        return self.push_address is not None and isinstance(self.engine.provider, SupportsPush)

    # ------------------------------------------------------------ connections

    async def register(
        self, *, connection_id: str, tenant_id: str, account_email: str, employee_id: str = ""
    ) -> ConnectionSync:
        """Start watching a connection (idempotent); opens its push channel when enabled."""
        current = await self.connections.get(connection_id)
        if current is None:
            current = ConnectionSync(
                connection_id=connection_id,
                tenant_id=tenant_id,
                employee_id=employee_id,
                account_email=account_email,
            )
            with contextlib.suppress(StaleWrite):
                current = await self.connections.save(current)
        elif not current.active:
            current = await self._save(current.model_copy(update={"active": True}))
        await self.ensure_channel(connection_id)
        return current

    async def ensure_registered(self, *, connection_id: str, tenant_id: str, account_email: str) -> None:
        """``register`` once per process per connection (cheap on the hot path)."""
        if connection_id in self._known:
            return
        current = await self.connections.get(connection_id)
        if current is None:
            await self.register(connection_id=connection_id, tenant_id=tenant_id, account_email=account_email)
        self._known.add(connection_id)

    async def deactivate(self, connection_id: str) -> None:
        """Stop watching (unlink / deactivation): stop the push channel, keep no cursor."""
        self._known.discard(connection_id)
        current = await self.connections.get(connection_id)
        if current is None:
            return
        channel = current.channel()
        if channel is not None and isinstance(self.engine.provider, SupportsPush):
            push = self.engine.provider
            try:
                session = self._session(current)
                await session.call(lambda a: push.stop_channel(a, channel), "stop channel")
            except (ProviderError, TokenError) as error:
                log.info(
                    "could not stop a push channel",
                    extra={"connection_id": connection_id, "error": str(error)},
                )
        await self._save(current.with_channel(None).model_copy(update={"active": False, "cursor": None}))

    async def ensure_channel(self, connection_id: str) -> None:
        """Open a push channel if there is none, or renew it when it expires soon.

        One at a time per connection: a connection's ``linked`` event and its first appointment
        arrive together, and two channels opened for one calendar would leave one orphaned at
        the provider, knocking on our notification route until it expires."""
        if not self.push_enabled:
            return
        async with self._channel_locks.hold(connection_id):
            await self._ensure_channel(connection_id)

    async def _ensure_channel(self, connection_id: str) -> None:
        current = await self.connections.get(connection_id)
        if current is None or not current.active:
            return
        channel = current.channel()
        if channel is not None and channel.expires_at - self.renew_before > self._clock():
            return
        push = self.engine.provider
        assert isinstance(push, SupportsPush) and self.push_address is not None
        address = self.push_address
        session = self._session(current)
        try:
            opened = await session.call(
                lambda a: push.open_channel(
                    a,
                    channel_id=uuid.uuid4().hex,
                    token=secrets.token_urlsafe(32),
                    address=address,
                    ttl_seconds=self.channel_ttl_seconds,
                ),
                "open channel",
            )
        except (ProviderError, TokenError) as error:
            log.warning(
                "could not open a push channel", extra={"connection_id": connection_id, "error": str(error)}
            )
            return
        kept = await self._keep_channel(current, opened)
        superseded = opened if kept is not opened else channel
        if superseded is not None:  # the renewed one, or ours when another instance won the race
            with contextlib.suppress(ProviderError, TokenError):
                await session.call(lambda a: push.stop_channel(a, superseded), "stop channel")

    async def _keep_channel(self, current: ConnectionSync, opened: PushChannel) -> PushChannel:
        """Store ``opened``; if another instance stored a fresh channel meanwhile, keep theirs."""
        try:
            await self.connections.save(current.with_channel(opened))
            return opened
        except StaleWrite:
            fresh = await self.connections.get(current.connection_id)
        if fresh is None:
            return opened
        theirs, replaced = fresh.channel(), current.channel()
        if (
            theirs is not None
            and (replaced is None or theirs.channel_id != replaced.channel_id)
            and theirs.expires_at - self.renew_before > self._clock()
        ):
            return theirs
        await self._save(fresh.with_channel(opened))
        return opened

    # ------------------------------------------------------------ notifications

    async def handle_notification(self, channel_id: str, token: str, resource_state: str = "exists") -> bool:
        """True when the notification is genuine (then a sync is triggered, except for the
        initial ``sync`` handshake). A forged one (unknown channel, wrong token) changes nothing."""
        current = await self.connections.by_channel(channel_id) if channel_id else None
        expected = current.channel_token if current is not None else None
        if (
            current is None
            or not current.active
            or expected is None
            or not hmac.compare_digest(expected, token)
        ):
            self.forged_notifications += 1
            log.warning("rejected a push notification", extra={"channel_id": channel_id[:64]})
            return False
        self.notifications += 1
        if resource_state != "sync":
            self.trigger(current.connection_id)
        return True

    def trigger(self, connection_id: str) -> None:
        """Run a sync for the connection soon; coalesces bursts of notifications."""
        if connection_id in self._running:
            self._dirty.add(connection_id)
            return
        self._running[connection_id] = asyncio.create_task(self._sync_loop(connection_id))

    async def _sync_loop(self, connection_id: str) -> None:
        try:
            while True:
                self._dirty.discard(connection_id)
                try:
                    await self.sync_connection(connection_id)
                except Exception:
                    log.exception("drift sync failed", extra={"connection_id": connection_id})
                if connection_id not in self._dirty:
                    return
        finally:
            self._running.pop(connection_id, None)

    # ------------------------------------------------------------ sync

    async def sync_connection(self, connection_id: str) -> list[DriftChange]:
        """Incremental sync of one connection; returns the drift found (reported or not)."""
        current = await self.connections.get(connection_id)
        if current is None or not current.active:
            return []
        session = self._session(current)
        try:
            page = await self._list_changes(session, current.cursor)
            observed = {event.event_id: event for event in page.events}
            states = [s for s in await self.engine.states.for_connection(connection_id) if s.entries]
            if page.full:
                await self._fill_missing(session, states, observed)
            found: list[DriftChange] = []
            for state in states:
                if any(applied.event_id in observed for applied in state.entries.values()):
                    found.extend(await self._judge(state.appointment_id, observed, session))
        except (ProviderError, TokenError) as error:
            log.info("drift sync skipped", extra={"connection_id": connection_id, "error": str(error)})
            return []
        await self._save_cursor(connection_id, page.next_cursor)
        return found

    async def _list_changes(self, session: ProviderSession, cursor: str | None) -> ChangePage:
        provider = self.engine.provider
        try:
            return await session.call(lambda a: provider.list_changes(a, cursor), "list changes")
        except SyncCursorInvalid:
            log.info("sync cursor expired; full resync")
            return await session.call(lambda a: provider.list_changes(a, None), "list changes")

    async def _fill_missing(
        self, session: ProviderSession, states: list[AppliedState], observed: dict[str, ProviderEvent]
    ) -> None:
        """After a full listing, look up applied events it did not contain (deleted ones)."""
        provider = self.engine.provider
        for state in states:
            for applied in state.entries.values():
                if applied.event_id in observed:
                    continue
                event_id = applied.event_id
                try:
                    event = await session.call(
                        lambda a, eid=event_id: provider.get_event(a, eid),  # type: ignore[misc]
                        "get event",
                    )
                except EventNotFound:
                    event = None
                observed[event_id] = event or ProviderEvent(event_id=event_id, cancelled=True)

    async def _judge(
        self, appointment_id: str, observed: dict[str, ProviderEvent], session: ProviderSession
    ) -> list[DriftChange]:
        async with self.engine.locks.hold(appointment_id):
            state = await self.engine.states.get(appointment_id)
            if state is None or state.cancelled or state.appointment_version < 1:
                return []
            state = await self._check_rooms(state, observed)
            changes = detect_drift(state, observed)
            if not changes:
                return []
            signature = drift_signature(changes)
            if signature != state.reported_drift:
                state = await self.engine.states.save(
                    state.model_copy(
                        update={
                            "reported_drift": signature,
                            "last_state": SyncState.DRIFTED.value,
                            "last_message": _drift_message(changes),
                        }
                    )
                )
                await self._report_drift(state, changes)
            if self.policy_for(state.tenant_id) is DriftPolicy.RESTORE:
                await self.engine.restore_applied(state, session)
            return changes

    async def _check_rooms(self, state: AppliedState, observed: dict[str, ProviderEvent]) -> AppliedState:
        """A room that declined after the write (rooms answer asynchronously on real Google):
        report ``failed`` / ``room_unavailable`` once, naming the room."""
        declined = sorted(
            {
                str(event.room_email)
                for applied in state.entries.values()
                if (event := observed.get(applied.event_id)) is not None
                and not event.cancelled
                and event.room_response is RoomResponse.DECLINED
                and not in_flight(state, event)
            }
        )
        if not declined or state.last_reason == SyncFailureReason.ROOM_UNAVAILABLE.value:
            return state
        message = f"The room {', '.join(declined)} declined the booking; choose another room or time."
        state = await self.engine.states.save(
            state.model_copy(
                update={
                    "last_state": SyncState.FAILED.value,
                    "last_reason": SyncFailureReason.ROOM_UNAVAILABLE.value,
                }
            )
        )
        await self.engine.statuses.report(
            appointment_id=state.appointment_id,
            tenant_id=state.tenant_id,
            connection_id=state.connection_id,
            appointment_version=state.appointment_version,
            state=SyncState.FAILED,
            provider_event_ids=state.event_ids(),
            reason=SyncFailureReason.ROOM_UNAVAILABLE,
            message=message,
        )
        return state

    async def _report_drift(self, state: AppliedState, changes: list[DriftChange]) -> None:
        target = Target(state.appointment_id, state.tenant_id, state.appointment_version)
        await self.engine.statuses.report(
            appointment_id=target.appointment_id,
            tenant_id=target.tenant_id,
            connection_id=state.connection_id,
            appointment_version=target.version,
            state=SyncState.DRIFTED,
            provider_event_ids=state.event_ids(),
            message=_drift_message(changes),
            drift=changes,
        )

    # ------------------------------------------------------------ polling

    async def poll_once(self) -> None:
        """Renew channels and sync every active connection (the fallback path)."""
        for current in await self.connections.active():
            await self.ensure_channel(current.connection_id)
            try:
                await self.sync_connection(current.connection_id)
            except Exception:
                log.exception("drift poll failed", extra={"connection_id": current.connection_id})

    async def run(self, poll_seconds: float) -> None:
        while True:
            await asyncio.sleep(poll_seconds)
            await self.poll_once()

    def start(self, poll_seconds: float) -> None:
        self._poller = asyncio.create_task(self.run(poll_seconds), name="drift-poller")

    async def stop(self) -> None:
        tasks = [t for t in (self._poller, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._poller = None

    # ------------------------------------------------------------ helpers

    def _session(self, current: ConnectionSync) -> ProviderSession:
        return self.engine.session(current.connection_id, current.account_email, current.tenant_id)

    async def _save(self, current: ConnectionSync) -> ConnectionSync:
        try:
            return await self.connections.save(current)
        except StaleWrite:
            fresh = await self.connections.get(current.connection_id)
            if fresh is None:
                raise
            merged = current.model_copy(update={"revision": fresh.revision})
            return await self.connections.save(merged)

    async def _save_cursor(self, connection_id: str, cursor: str | None) -> None:
        for _ in range(3):
            current = await self.connections.get(connection_id)
            if current is None:
                return
            try:
                await self.connections.save(current.model_copy(update={"cursor": cursor}))
                return
            except StaleWrite:
                continue


def _drift_message(changes: list[DriftChange]) -> str:
    parts = []
    for change in changes:
        if change.kind.value == "deleted":
            parts.append(f"{change.entry_key}: deleted in the calendar")
        else:
            parts.append(f"{change.entry_key}: {change.field} changed in the calendar")
    return "The calendar event was changed outside the system: " + "; ".join(parts)
