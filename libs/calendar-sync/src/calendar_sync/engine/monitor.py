"""Drift monitoring (R9), pushed and polled.

Per active calendar connection the ``DriftMonitor`` keeps a sync cursor and, when it is given a
``push`` provider and a public address, a push channel with a random token. A notification
whose channel id and token match acts on that connection (``Notice``); anything else (unknown
channel, wrong token) changes nothing.

Polling is the safety net (docs/decisions/0014-drift-watch-ownership.md): each connection has its
own due time — ``poll_seconds`` after its last poll while it has no live push channel,
``healthy_poll_seconds`` (hours) while it has one — and channels are renewed when they near
expiry. First polls are spread over the interval at random, at most ``poll_concurrency`` run at
once, and a rate-limited poll holds the polls back for its ``Retry-After``. With ``ownership``
(leases in the shared store) an instance polls and renews only the connections it owns, and a
poll runs only after recording itself on the connection's lease, so two instances never poll
one connection within one interval. A channel's removal notice reaches the instance whose
address opened the channel; when that is not the owner any more and no channel could be put
back, it flags the lease, and the owner switches the connection to frequent polling at its next
heartbeat. An idle instance sleeps until the next due time.

A notification or poll costs one incremental sync of that connection: the engine finds the
appointments of the changed events by event id, the echo of our own writes (same etag) is
skipped without judging, and bursts of notifications are coalesced (``debounce_seconds``).

Channels are opened, renewed and stopped one at a time per connection (``_channel_locks``).
Renewal is provider-specific: with ``hooks`` (Graph renews a subscription in place) the
channel is renewed through them, otherwise a new channel replaces the old one.

The comparison itself is the engine's (``SyncEngine.observe`` / ``judge_drift``): new drift is
reported once as a ``drifted`` status with the changes, and with the tenant's ``restore``
policy the system's version is written back (then ``synced``).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import hmac
import logging
import random
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from calendar_sync.core.drift import DriftPolicy, is_echo
from calendar_sync.core.errors import ProviderError, TokenError, TransientProviderError
from calendar_sync.core.model import ProviderAccess, PushChannel
from calendar_sync.core.provider import SupportsPush
from calendar_sync.engine.engine import ProviderSession, SyncEngine
from calendar_sync.engine.locks import KeyedLocks
from calendar_sync.engine.ownership import Ownership
from calendar_sync.engine.state import ConnectionSync, ConnectionSyncRepository, StaleWrite
from visitor_common.events.sync import DriftChange
from visitor_common.waiting import wait_woken

log = logging.getLogger(__name__)

PolicyResolver = Callable[[str], DriftPolicy]
Clock = Callable[[], datetime]


POLL_SLACK = 0.98
"""A poll may start this fraction of its interval after the last one (timers are not exact)."""


_NEVER = datetime.max.replace(tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ChannelHooks(Protocol):
    """Provider-specific channel behaviour the monitor delegates to.

    ``GraphCalendarProvider`` implements it (PATCH on the subscription). Without hooks an
    expiring channel is replaced: a new one is opened and the old one stopped."""

    async def renew_channel(
        self, access: ProviderAccess, channel: PushChannel, ttl_seconds: int
    ) -> PushChannel: ...


class Notice(StrEnum):
    """What a genuine notification asks of the monitor (the routes map provider wording)."""

    CHANGED = "changed"
    """Something changed in the calendar: incremental sync."""
    HANDSHAKE = "handshake"
    """The channel is live (Google's ``sync`` message): nothing to do."""
    REAUTHORIZE = "reauthorize"
    """The provider wants the channel re-authorised (Graph ``reauthorizationRequired``): renew now."""
    REMOVED = "removed"
    """The provider dropped the channel (Graph ``subscriptionRemoved``): open a new one, resync."""
    MISSED = "missed"
    """Some notifications were not delivered (Graph ``missed``): resync."""


class DriftMonitor:
    def __init__(
        self,
        engine: SyncEngine,
        connections: ConnectionSyncRepository,
        *,
        push: SupportsPush | None = None,
        hooks: ChannelHooks | None = None,
        policy_for: PolicyResolver = lambda _tenant: DriftPolicy.REPORT,
        push_address: str | None = None,
        channel_ttl_seconds: int = 3600,
        renew_before_seconds: int = 600,
        clock: Clock = _utcnow,
        ownership: Ownership | None = None,
        healthy_poll_seconds: float = 6 * 3600,
        poll_concurrency: int = 4,
        debounce_seconds: float = 0.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.connections = connections
        self.push = push
        self.hooks = hooks
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
        self.lifecycle_handled = 0
        self._known: set[str] = set()
        self._channel_locks = KeyedLocks()
        self.ownership = ownership
        self.poll_seconds = 60.0
        self.healthy_poll_seconds = healthy_poll_seconds
        self.debounce_seconds = debounce_seconds
        self._rng = rng
        self._poll_slots = asyncio.Semaphore(poll_concurrency)
        self._due: dict[str, datetime] = {}  # owned connection -> next due time (the truth)
        self._heap: list[tuple[datetime, str]] = []  # the same, ordered; stale entries skipped
        self._polling: dict[str, asyncio.Task[None]] = {}
        self._fall_back_after_poll: set[str] = set()  # channel failed while a poll ran
        self._held_until: datetime | None = None  # Retry-After of a rate-limited poll
        self._last_local: dict[str, datetime] = {}  # last polls, without ownership
        self._wake = asyncio.Event()
        self.polls = 0
        self.echoes = 0
        self.on_poll: Callable[[str], None] | None = None
        """Called with the connection id as each poll starts (tests and the bench count them)."""

    @property
    def push_enabled(self) -> bool:
        return self.push_address is not None and self.push is not None

    @property
    def syncing(self) -> bool:
        """True while a triggered sync runs or is queued."""
        return bool(self._running)

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
        if self.ownership is not None and self.ownership.alive():
            await self.ownership.claim(connection_id)
        if self._owns(connection_id):
            await self.ensure_channel(connection_id)
            self._schedule_first(connection_id)
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
        self._due.pop(connection_id, None)
        if self.ownership is not None:
            await self.ownership.forget(connection_id)
        async with self._channel_locks.hold(connection_id):
            current = await self.connections.get(connection_id)
            if current is None:
                return
            channel = current.channel()
            if channel is not None and self.push is not None:
                await self._stop(current, channel, quiet=False)
            await self._save(current.with_channel(None).model_copy(update={"active": False, "cursor": None}))

    async def ensure_channel(self, connection_id: str) -> None:
        """Open a push channel if there is none, or renew it when it expires soon.

        One at a time per connection: a connection's ``linked`` event and its first appointment
        arrive together, and two channels opened for one calendar would leave one orphaned at
        the provider, knocking on our notification route until it expires. Renewing shares the
        lock for the same reason (a poll and a lifecycle notification may renew together)."""
        if not self.push_enabled:
            return
        async with self._channel_locks.hold(connection_id):
            await self._ensure_channel(connection_id)

    async def _ensure_channel(self, connection_id: str, *, renew_now: bool = False) -> None:
        current = await self.connections.get(connection_id)
        if current is None or not current.active:
            return
        channel = current.channel()
        if channel is not None and not renew_now and channel.expires_at - self.renew_before > self._clock():
            return
        if channel is not None and self.hooks is not None:
            if await self._renew(current, channel):
                return
            forgotten = await self._forget_channel(connection_id)  # the provider no longer knows it
            if forgotten is None:
                return
            current, channel = forgotten, None
        await self._open(current, channel)

    async def _forget_channel(self, connection_id: str, only: str | None = None) -> ConnectionSync | None:
        """Drop the stored channel (``only`` if it is still that one); the connection as saved."""
        fresh = await self.connections.get(connection_id)
        if fresh is None or (only is not None and fresh.channel_id != only):
            return fresh
        return await self._save(fresh.with_channel(None))

    async def _renew(self, current: ConnectionSync, channel: PushChannel) -> bool:
        hooks = self.hooks
        assert hooks is not None
        session = self._session(current)
        try:
            renewed = await session.call(
                lambda a: hooks.renew_channel(a, channel, self.channel_ttl_seconds), "renew channel"
            )
        except (ProviderError, TokenError) as error:
            log.info(
                "could not renew a push channel",
                extra={"connection_id": current.connection_id, "error": str(error)},
            )
            return False
        await self._save(current.with_channel(renewed))
        return True

    async def _open(self, current: ConnectionSync, replaced: PushChannel | None) -> None:
        """Open a channel for ``current`` and stop the one it replaces."""
        push, address = self.push, self.push_address
        assert push is not None and address is not None
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
                "could not open a push channel",
                extra={"connection_id": current.connection_id, "error": str(error)},
            )
            self._fall_back(current.connection_id)
            return
        kept = await self._keep_channel(current, opened)
        superseded = opened if kept is not opened else replaced
        if superseded is not None:  # the renewed one, or ours when another instance won the race
            await self._stop(current, superseded)

    async def _stop(self, current: ConnectionSync, channel: PushChannel, *, quiet: bool = True) -> None:
        push = self.push
        assert push is not None
        try:
            await self._session(current).call(lambda a: push.stop_channel(a, channel), "stop channel")
        except (ProviderError, TokenError) as error:
            if not quiet:
                log.info(
                    "could not stop a push channel",
                    extra={"connection_id": current.connection_id, "error": str(error)},
                )

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

    async def handle_notification(
        self, channel_id: str, token: str, notice: Notice = Notice.CHANGED, *, log_rejection: bool = True
    ) -> bool:
        """True when the notification is genuine, then act on ``notice``. A forged one (unknown
        channel, inactive connection, wrong token) is counted and changes nothing; a caller
        handling a batch passes ``log_rejection=False`` and logs one summary line instead."""
        current = await self.connections.by_channel(channel_id) if channel_id else None
        expected = current.channel_token if current is not None else None
        if (
            current is None
            or not current.active
            or expected is None
            or not hmac.compare_digest(expected.encode(), token.encode())
        ):
            self.forged_notifications += 1
            if log_rejection:
                log.warning("rejected a push notification", extra={"channel_id": channel_id[:64]})
            return False
        self.notifications += 1
        connection_id = current.connection_id
        if notice in (Notice.REAUTHORIZE, Notice.REMOVED, Notice.MISSED):
            self.lifecycle_handled += 1
            log.info(
                "channel lifecycle notification",
                extra={"connection_id": connection_id, "notice": notice.value},
            )
        if notice is Notice.REAUTHORIZE and self.push_enabled:
            async with self._channel_locks.hold(connection_id):
                await self._ensure_channel(connection_id, renew_now=True)
        elif notice is Notice.REMOVED and self.push_enabled:
            async with self._channel_locks.hold(connection_id):
                await self._forget_channel(connection_id, only=channel_id)  # unless replaced meanwhile
                await self._ensure_channel(connection_id)
        if notice in (Notice.REAUTHORIZE, Notice.REMOVED) and not self._owns(connection_id):
            await self._tell_owner_if_unwatched(connection_id)
        if notice in (Notice.CHANGED, Notice.REMOVED, Notice.MISSED):
            self.trigger(connection_id)
        return True

    async def _tell_owner_if_unwatched(self, connection_id: str) -> None:
        """The notice came to us because our address opened the channel, but another instance
        owns the connection now and keeps its rare schedule: if the channel could not be
        renewed or replaced here, flag the lease so the owner polls frequently from its next
        heartbeat on (and opens a channel at its next poll)."""
        assert self.ownership is not None  # only an instance with ownership owns not all
        current = await self.connections.get(connection_id)
        if current is None or not current.active:
            return
        channel = current.channel()
        if channel is not None and channel.expires_at > self._clock():
            return  # renewed or replaced here: the owner's rare schedule is right
        if await self.ownership.report_channel_failure(connection_id):
            log.info("told the owner a push channel failed", extra={"connection_id": connection_id})

    def trigger(self, connection_id: str) -> None:
        """Run a sync for the connection soon; coalesces bursts of notifications."""
        if connection_id in self._running:
            self._dirty.add(connection_id)
            return
        self._running[connection_id] = asyncio.create_task(self._sync_loop(connection_id))

    async def _sync_loop(self, connection_id: str) -> None:
        try:
            while True:
                if self.debounce_seconds:  # let a burst (our write's echo and the user's edit) settle
                    await asyncio.sleep(self.debounce_seconds)
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
        restore = self.policy_for(current.tenant_id) is DriftPolicy.RESTORE
        try:
            observed, next_cursor, touched = await self.engine.observe(session, current.cursor, connection_id)
            found: list[DriftChange] = []
            for state in touched:
                if is_echo(state, observed):
                    self.echoes += 1
                    continue
                found.extend(
                    await self.engine.judge_drift(state.appointment_id, observed, session, restore=restore)
                )
        except (ProviderError, TokenError) as error:
            self._hold_back(error)
            log.info("drift sync skipped", extra={"connection_id": connection_id, "error": str(error)})
            return []
        await self._save_cursor(connection_id, next_cursor)
        return found

    def _hold_back(self, error: ProviderError | TokenError) -> None:
        """Respect a rate limit: no poll starts before its ``Retry-After`` has passed."""
        if isinstance(error, TransientProviderError) and error.rate_limited:
            until = self._clock() + timedelta(seconds=error.retry_after or self.poll_seconds / 10)
            self._held_until = max(until, self._held_until or until)

    # ------------------------------------------------------------ polling

    async def poll_once(self) -> None:
        """Renew channels and sync every active connection this instance owns, now."""
        for current in await self.connections.active():
            if not self._owns(current.connection_id):
                continue
            await self.ensure_channel(current.connection_id)
            try:
                await self.sync_connection(current.connection_id)
            except Exception:
                log.exception("drift poll failed", extra={"connection_id": current.connection_id})

    def interval_for(self, current: ConnectionSync) -> timedelta:
        """Rare polling while the push channel is live, frequent while it is missing or expired."""
        channel = current.channel()
        healthy = self.push_enabled and channel is not None and channel.expires_at > self._clock()
        return timedelta(seconds=self.healthy_poll_seconds if healthy else self.poll_seconds)

    async def run(self, poll_seconds: float) -> None:
        """Heartbeat, rebalance, and start the polls that are due; sleep until the next."""
        self.poll_seconds = poll_seconds
        next_membership = self._clock()
        while True:
            now = self._clock()
            if now >= next_membership:
                try:
                    await self._membership()
                except Exception:  # the store is unreachable: keep trying, act on nothing new
                    log.exception("drift ownership round failed")
                step = self.ownership.heartbeat_seconds if self.ownership else self.poll_seconds
                next_membership = now + timedelta(seconds=step)
            self._start_due_polls()
            wake = min(next_membership, self._next_due() or next_membership)
            if self._held_until is not None:
                wake = max(wake, min(self._held_until, next_membership))
            self._wake.clear()
            delay = (wake - self._clock()).total_seconds()
            await wait_woken(self._wake, delay)  # a poll ending during ``stop`` may wake it

    async def _membership(self) -> None:
        """Heartbeat and rebalance; schedule what we gained, forget what we lost."""
        if self.ownership is None:
            owned = {c.connection_id for c in await self.connections.active()}
        else:
            await self.ownership.heartbeat()

            async def active_ids() -> list[str]:
                return [c.connection_id for c in await self.connections.active()]

            owned = await self.ownership.rebalance(active_ids)
        for lost in set(self._due) - owned:
            del self._due[lost]
        for gained in owned - set(self._due):
            self._schedule_first(gained)
        if self.ownership is not None:
            await self._take_channel_failures(self.ownership)

    async def _take_channel_failures(self, ownership: Ownership) -> None:
        """Channels another instance saw fail (``_tell_owner_if_unwatched``): poll frequently."""
        for connection_id in await ownership.channel_failures():
            if self._fall_back(connection_id):
                await ownership.clear_channel_failure(connection_id)

    def _schedule_first(self, connection_id: str) -> None:
        """A first due time spread over the interval (a restart does not poll all at once);
        the lease's ``last_poll_at`` still keeps a poll from running early."""
        if connection_id not in self._due:
            self._set_due(connection_id, self._clock() + timedelta(seconds=self._rng() * self.poll_seconds))
            self._wake.set()

    def _fall_back(self, connection_id: str) -> bool:
        """No channel any more (removed, refused): poll at the frequent interval from now on.
        Its due time was set while the channel was healthy, hours away; a running poll
        reschedules by itself, and a connection we do not own is its owner's to poll. A poll
        running now may have read the channel before it failed: it falls back once it ends.
        False when there was nothing to reschedule (not scheduled here)."""
        if connection_id in self._polling:
            self._fall_back_after_poll.add(connection_id)
            return True
        due = self._due.get(connection_id)
        if due is None:
            return False
        soon = self._clock() + timedelta(seconds=self.poll_seconds)
        if due > soon:
            self._set_due(connection_id, soon)
            self._wake.set()
        return True

    def _start_due_polls(self) -> None:
        now = self._clock()
        if self._held_until is not None and now < self._held_until:
            return
        while self._heap and self._heap[0][0] <= now:
            due, connection_id = heapq.heappop(self._heap)
            if self._due.get(connection_id) != due or connection_id in self._polling:
                continue  # rescheduled or dropped since
            task = asyncio.create_task(self._poll(connection_id), name=f"drift-poll-{connection_id}")
            self._polling[connection_id] = task
            self._due[connection_id] = _NEVER  # rescheduled by the poll

    def _set_due(self, connection_id: str, due: datetime) -> None:
        self._due[connection_id] = due
        heapq.heappush(self._heap, (due, connection_id))

    def _next_due(self) -> datetime | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    async def _poll(self, connection_id: str) -> None:
        try:
            async with self._poll_slots:
                self._set_due(connection_id, await self._poll_and_reschedule(connection_id))
        except Exception:
            log.exception("drift poll failed", extra={"connection_id": connection_id})
            self._set_due(connection_id, self._clock() + timedelta(seconds=self.poll_seconds))
        finally:
            self._polling.pop(connection_id, None)
            if not self._owns(connection_id):
                self._due.pop(connection_id, None)
            if connection_id in self._fall_back_after_poll:
                self._fall_back_after_poll.discard(connection_id)
                self._fall_back(connection_id)
            self._wake.set()

    async def _poll_and_reschedule(self, connection_id: str) -> datetime:
        """Renew the channel if due, poll if due; the next due time."""
        current = await self.connections.get(connection_id)
        if current is None or not current.active:
            return _NEVER
        await self.ensure_channel(connection_id)
        current = await self.connections.get(connection_id) or current
        interval = self.interval_for(current)
        last = await self._begin_poll(connection_id, interval)
        if last is None:  # not due (another instance polled it lately, or only a renewal was)
            last = await self._last_poll(connection_id) or self._clock()
        else:
            self.polls += 1
            if self.on_poll is not None:
                self.on_poll(connection_id)
            await self.sync_connection(connection_id)
        due = last + interval
        channel = current.channel()
        if self.push_enabled and channel is not None:
            due = min(due, channel.expires_at - self.renew_before)
        return max(due, self._clock() + timedelta(seconds=min(1.0, self.poll_seconds / 10)))

    async def _begin_poll(self, connection_id: str, interval: timedelta) -> datetime | None:
        if self.ownership is None:
            last = self._last_local.get(connection_id)
            now = self._clock()
            if last is not None and now - last < interval * POLL_SLACK:
                return None
            self._last_local[connection_id] = now
            return now
        return await self.ownership.begin_poll(connection_id, interval * POLL_SLACK)

    async def _last_poll(self, connection_id: str) -> datetime | None:
        if self.ownership is None:
            return self._last_local.get(connection_id)
        return await self.ownership.last_poll(connection_id)

    def _owns(self, connection_id: str) -> bool:
        return self.ownership is None or connection_id in self.ownership.owned

    def start(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        pending, self._due, self._heap = list(self._due), {}, []  # registered before: spread them now
        for connection_id in pending:
            self._schedule_first(connection_id)
        self._poller = asyncio.create_task(self.run(poll_seconds), name="drift-poller")

    async def stop(self) -> None:
        tasks = [t for t in (self._poller, *self._running.values(), *self._polling.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # a cancelled stop is cancelled, too
        if self._poller is not None and self.ownership is not None:
            with contextlib.suppress(Exception):  # a clean stop hands its connections over at once
                await self.ownership.leave()
        self._poller = None
        self._due.clear()
        self._heap.clear()

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
