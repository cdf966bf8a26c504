"""The sync engine: apply an appointment snapshot to the bound calendar through a
``CalendarProvider``, idempotently, and report the outcome.

``SyncEngine.apply(snapshot)`` (``restore=True``, or any newer version after reported drift,
first re-checks every applied event at the provider and rewrites drifted ones):
1. per-appointment lock; load the applied state; an equal version re-reports the last outcome
   (covers a crash between saving and reporting), an older one changes nothing;
2. get an access token (``TokenSource``); ``reauth_required`` / inactive connection → ``failed``;
3. plan (``planner.plan``) and run each operation under the retry policy; a provider 401
   refreshes the token once; a 409 on insert is adopted when the event is ours;
4. save the applied state (compare-and-set) and report ``synced`` (or ``failed`` with
   ``room_unavailable`` when a room declined) with the provider event ids.

Transient failures past the retry bound save the progress made, report ``failed`` (retriable)
and return ``ApplyResult(retry_later=True)``: the consumer moves the message to the retry topic.
A create that failed is saved as unsettled (its event may exist all the same): the next plan
repeats it under the same id, or removes its event when the entry is no longer wanted
(docs/decisions/0027-settling-creates-of-unknown-outcome.md).

For the drift monitor the engine offers ``applied_states``, ``observe`` (what changed at the
provider) and ``judge_drift`` (report drift once, restore under the appointment's lock); a
restore rewrites edited events through ``plan(..., rewrite=...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from calendar_sync.core.drift import detect_drift, drift_signature, entry_differences, in_flight
from calendar_sync.core.errors import (
    AccessTokenRejected,
    ConnectionInactive,
    EventAlreadyExists,
    EventNotFound,
    InvalidSnapshot,
    ProviderError,
    ProviderRejected,
    ReauthRequired,
    SyncCursorInvalid,
    TokenError,
    TransientProviderError,
)
from calendar_sync.core.model import (
    AppliedEntry,
    AppliedState,
    CalendarEntry,
    CreateOp,
    DeleteOp,
    EventMeta,
    Operation,
    ProviderAccess,
    ProviderEvent,
    RoomResponse,
    SettleOp,
    UnsettledCreate,
    UpdateOp,
)
from calendar_sync.core.planner import desired_entries, plan
from calendar_sync.core.provider import CalendarProvider
from calendar_sync.engine.locks import KeyedLocks
from calendar_sync.engine.retry import RetryPolicy, Sleep, call_with_retry
from calendar_sync.engine.state import AppliedStateRepository, StaleWrite, is_stale
from calendar_sync.engine.status import StatusPublisher
from visitor_common.contracts.connections import AccessTokenGrant
from visitor_common.events.appointments import AppointmentSnapshot, AppointmentStatus
from visitor_common.events.sync import DriftChange, DriftKind, SyncFailureReason, SyncState

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_ID_GENERATIONS = 5
MAX_STALE_WRITE_RETRIES = 5
REFRESHES_PER_SESSION = 2
"""A refreshed token the provider rejects too may have been minted just before the same expiry
or revocation (a refresh in flight across it, handed to every caller waiting on it); a second
refresh tells that race from a grant that no longer works, and bounds the cost of the latter."""


@dataclass(frozen=True)
class Target:
    """Which appointment version the operations write (stamped into ``EventMeta``)."""

    appointment_id: str
    tenant_id: str
    version: int

    @classmethod
    def of(cls, snapshot: AppointmentSnapshot) -> Target:
        return cls(snapshot.appointment_id, snapshot.tenant_id, snapshot.version)


class TokenSource(Protocol):
    """What the engine needs from the auth service (``AuthTokenClient`` implements it)."""

    async def access_token(self, connection_id: str, *, force_refresh: bool = False) -> AccessTokenGrant: ...


@dataclass
class ApplyResult:
    """What happened to one snapshot. ``state`` is None when nothing was done (stale)."""

    state: SyncState | None
    reason: SyncFailureReason | None = None
    message: str | None = None
    retry_later: bool = False
    event_ids: dict[str, str] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return self.state is None


class _Failed(Exception):
    def __init__(self, reason: SyncFailureReason, message: str, *, advance: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.advance = advance


class ProviderSession:
    """Provider calls for one connection: retry policy, and the token refreshed on 401 (at most
    ``REFRESHES_PER_SESSION`` times; then the host must link the calendar again)."""

    def __init__(
        self,
        tokens: TokenSource,
        connection_id: str,
        account_email: str,
        tenant_id: str,
        policy: RetryPolicy,
        sleep: Sleep,
        rng: Callable[[], float],
    ) -> None:
        self._tokens = tokens
        self._connection_id = connection_id
        self._account_email = account_email
        self._tenant_id = tenant_id
        self._policy = policy
        self._sleep = sleep
        self._rng = rng
        self._access: ProviderAccess | None = None
        self._refreshes = 0
        self._refresh_lock = asyncio.Lock()

    async def _get_access(self, *, refresh: bool = False) -> ProviderAccess:
        if self._access is None or refresh:
            grant = await self._tokens.access_token(self._connection_id, force_refresh=refresh)
            self._access = ProviderAccess(
                connection_id=self._connection_id,
                account_email=self._account_email,
                access_token=grant.access_token,
                tenant_id=self._tenant_id,
            )
        return self._access

    async def call(self, fn: Callable[[ProviderAccess], Awaitable[T]], what: str = "provider call") -> T:
        access = await self._get_access()
        while True:
            try:
                attempt = functools.partial(fn, access)  # this token, not one a refresh brings
                return await call_with_retry(
                    attempt, self._policy, sleep=self._sleep, rng=self._rng, what=what
                )
            except AccessTokenRejected as error:
                access = await self._after_rejection(access, error)

    async def _after_rejection(self, rejected: ProviderAccess, error: AccessTokenRejected) -> ProviderAccess:
        """The access to retry with after the provider rejected ``rejected``: refreshed, at most
        ``REFRESHES_PER_SESSION`` times. Calls run concurrently (one plan phase), so a call whose
        token another call already refreshed just takes the new one instead of counting as a
        rejection of its own. A refresh that failed (the auth service restarting, say) is no
        refresh: the next rejected call tries again rather than concluding that the grant is gone."""
        async with self._refresh_lock:
            if self._access is not None and self._access is not rejected:
                return self._access
            if self._refreshes >= REFRESHES_PER_SESSION:
                raise ReauthRequired("The provider rejected a freshly refreshed access token.") from error
            access = await self._get_access(refresh=True)
            self._refreshes += 1
            return access


class SyncEngine:
    def __init__(
        self,
        provider: CalendarProvider,
        tokens: TokenSource,
        states: AppliedStateRepository,
        statuses: StatusPublisher,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        locks: KeyedLocks | None = None,
    ) -> None:
        self.provider = provider
        self.tokens = tokens
        self.states = states
        self.statuses = statuses
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self.locks = locks or KeyedLocks()

    def session(self, connection_id: str, account_email: str, tenant_id: str) -> ProviderSession:
        return ProviderSession(
            self.tokens, connection_id, account_email, tenant_id, self.policy, self._sleep, self._rng
        )

    # ------------------------------------------------------------ apply

    async def apply(self, snapshot: AppointmentSnapshot, *, restore: bool = False) -> ApplyResult:
        """Bring the bound calendar to ``snapshot``. ``restore`` also re-checks every applied
        event at the provider and writes the system's version back over drift (R9)."""
        if snapshot.binding is None:
            raise InvalidSnapshot(f"appointment {snapshot.appointment_id} has no calendar binding")
        async with self.locks.hold(snapshot.appointment_id):
            for _ in range(MAX_STALE_WRITE_RETRIES):
                try:
                    return await self._apply_locked(snapshot, restore=restore)
                except StaleWrite:
                    log.info(
                        "applied state changed under us; re-planning",
                        extra={"appointment_id": snapshot.appointment_id},
                    )
            raise RuntimeError(f"appointment {snapshot.appointment_id}: too many concurrent writers")

    async def _apply_locked(self, snapshot: AppointmentSnapshot, *, restore: bool) -> ApplyResult:
        binding = snapshot.binding
        assert binding is not None
        state = await self.states.load(
            snapshot.appointment_id, snapshot.tenant_id, binding.connection_id, str(binding.account_email)
        )
        if snapshot.version < state.appointment_version or (
            is_stale(state, snapshot.version) and not restore
        ):
            return await self._replay(snapshot, state)
        desired = desired_entries(snapshot)
        session = self.session(binding.connection_id, str(binding.account_email), snapshot.tenant_id)
        # After reported drift, the next change of the appointment writes the whole system version.
        verify = restore or bool(state.reported_drift)
        try:
            state, events = await self._execute(session, Target.of(snapshot), desired, state, restore=verify)
        except _FailedWithState as failure:
            return await self._finish_failed(snapshot, failure.state, failure)
        except _RetryLaterWithState as later:
            state = await self.states.save(later.state)
            await self._report(snapshot, state, SyncState.FAILED, later.reason, later.message, retriable=True)
            return ApplyResult(SyncState.FAILED, later.reason, later.message, True, state.event_ids())
        declined = _declined_room(events)
        if declined is not None:
            room_failure = _Failed(SyncFailureReason.ROOM_UNAVAILABLE, declined, advance=True)
            return await self._finish_failed(snapshot, state, room_failure)
        state = state.model_copy(
            update={
                "appointment_version": snapshot.version,
                "cancelled": snapshot.status is AppointmentStatus.CANCELLED,
                "last_state": SyncState.SYNCED.value,
                "last_reason": None,
                "last_message": None,
                "reported_drift": [],
            }
        )
        state = await self.states.save(state)
        await self._report(snapshot, state, SyncState.SYNCED)
        return ApplyResult(SyncState.SYNCED, event_ids=state.event_ids())

    async def _replay(self, snapshot: AppointmentSnapshot, state: AppliedState) -> ApplyResult:
        """Equal version: report the recorded outcome again (idempotent). Older: nothing."""
        if snapshot.version != state.appointment_version or state.last_state is None:
            return ApplyResult(None)
        recorded = SyncState(state.last_state)
        reason = SyncFailureReason(state.last_reason) if state.last_reason else None
        drift = [DriftChange.model_validate(c) for c in state.reported_drift]
        await self._report(snapshot, state, recorded, reason, state.last_message, drift=drift)
        return ApplyResult(None, reason, event_ids=state.event_ids())

    async def _finish_failed(
        self, snapshot: AppointmentSnapshot, state: AppliedState, failure: _Failed
    ) -> ApplyResult:
        update: dict[str, object] = {
            "last_state": SyncState.FAILED.value,
            "last_reason": failure.reason.value,
            "last_message": failure.message,
        }
        if failure.advance:
            update["appointment_version"] = snapshot.version
        state = await self.states.save(state.model_copy(update=update))
        await self._report(snapshot, state, SyncState.FAILED, failure.reason, failure.message)
        return ApplyResult(SyncState.FAILED, failure.reason, failure.message, False, state.event_ids())

    async def _report(
        self,
        snapshot: AppointmentSnapshot | Target,
        state: AppliedState,
        sync_state: SyncState,
        reason: SyncFailureReason | None = None,
        message: str | None = None,
        *,
        retriable: bool = False,
        drift: list[DriftChange] | None = None,
    ) -> None:
        target = snapshot if isinstance(snapshot, Target) else Target.of(snapshot)
        await self.statuses.report(
            appointment_id=target.appointment_id,
            tenant_id=target.tenant_id,
            connection_id=state.connection_id,
            appointment_version=target.version,
            state=sync_state,
            provider_event_ids=state.event_ids(),
            reason=reason,
            message=message,
            retriable=retriable,
            drift=drift or (),
        )

    # ------------------------------------------------------------ drift (for the DriftMonitor)

    async def applied_states(self, connection_id: str) -> list[AppliedState]:
        """The applied states of a connection's appointments that have provider events."""
        return [s for s in await self.states.for_connection(connection_id) if s.entries]

    async def observe(
        self, session: ProviderSession, cursor: str | None, connection_id: str
    ) -> tuple[dict[str, ProviderEvent], str | None, list[AppliedState]]:
        """The provider events changed since ``cursor`` by id, the next cursor, and the applied
        states those events belong to.

        Incremental: each changed event leads to its appointment (the id stamped on the event,
        else the event index), so the cost follows the change, not the host's appointments. An
        expired cursor falls back to a full listing; then every applied state is loaded and
        applied events the listing did not contain are looked up one by one (deleted ones come
        back cancelled)."""
        try:
            page = await session.call(lambda a: self.provider.list_changes(a, cursor), "list changes")
        except SyncCursorInvalid:
            log.info("sync cursor expired; full resync")
            page = await session.call(lambda a: self.provider.list_changes(a, None), "list changes")
        observed = {event.event_id: event for event in page.events}
        if not page.full and self.states.indexes_events:
            return observed, page.next_cursor, await self._touched(connection_id, observed)
        states = await self.applied_states(connection_id)
        if page.full:
            for state in states:
                for applied in state.entries.values():
                    if applied.event_id not in observed:
                        found = await self._get_or_none(session, applied.event_id)
                        observed[applied.event_id] = found or ProviderEvent(
                            event_id=applied.event_id, cancelled=True
                        )
        return observed, page.next_cursor, [s for s in states if _touches(s, observed)]

    async def _touched(self, connection_id: str, observed: Mapping[str, ProviderEvent]) -> list[AppliedState]:
        """The connection's applied states with an event in ``observed``, found by event."""
        appointment_ids: dict[str, None] = {}  # ordered, without repeats
        for event in observed.values():
            if event.meta is not None:
                appointment_id: str | None = event.meta.appointment_id
            else:  # deletions come without our stamp (Google cancelled, Graph @removed)
                appointment_id = await self.states.appointment_for_event(event.event_id)
            if appointment_id is not None:
                appointment_ids[appointment_id] = None
        touched: list[AppliedState] = []
        for appointment_id in appointment_ids:
            state = await self.states.get(appointment_id)
            # The stamp is only a hint: the state must be this connection's and know the event.
            if state is not None and state.connection_id == connection_id and _touches(state, observed):
                touched.append(state)
        return touched

    async def judge_drift(
        self,
        appointment_id: str,
        observed: Mapping[str, ProviderEvent],
        session: ProviderSession,
        *,
        restore: bool,
    ) -> list[DriftChange]:
        """Compare one appointment's applied events with what the provider shows, under its lock.

        A room that declined after the write is reported once as ``failed`` /
        ``room_unavailable``; new drift is reported once as ``drifted`` with the changes; with
        ``restore`` the system's version is then written back (``synced``). Returns the drift
        found, reported or not."""
        async with self.locks.hold(appointment_id):
            state = await self.states.get(appointment_id)
            if state is None or state.cancelled or state.appointment_version < 1:
                return []
            state = await self._check_rooms(state, observed)
            changes = detect_drift(state, observed)
            if changes:
                # ``observed`` was read before this lock was taken: a write of ours may have
                # landed in between and made it stale. Drift is only what a fresh read shows.
                changes = detect_drift(state, await self._reread(session, state, changes))
            if not changes:
                return []
            signature = drift_signature(changes)
            if signature != state.reported_drift:
                message = _drift_message(changes)
                update = {
                    "reported_drift": signature,
                    "last_state": SyncState.DRIFTED.value,
                    "last_message": message,
                }
                state = await self.states.save(state.model_copy(update=update))
                await self._report(
                    _target_of(state), state, SyncState.DRIFTED, message=message, drift=changes
                )
            if restore:
                await self._restore(state, session)
            return changes

    async def _reread(
        self, session: ProviderSession, state: AppliedState, changes: list[DriftChange]
    ) -> dict[str, ProviderEvent]:
        """The events behind ``changes`` as the provider holds them now (gone ones cancelled)."""
        fresh: dict[str, ProviderEvent] = {}
        for event_id in dict.fromkeys(c.provider_event_id for c in changes):
            found = await self._get_or_none(session, event_id)
            fresh[event_id] = found or ProviderEvent(event_id=event_id, cancelled=True)
        return fresh

    async def _check_rooms(self, state: AppliedState, observed: Mapping[str, ProviderEvent]) -> AppliedState:
        """Rooms answer asynchronously on real Google: a decline can come after the write."""
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
        reason = SyncFailureReason.ROOM_UNAVAILABLE
        state = await self.states.save(
            state.model_copy(update={"last_state": SyncState.FAILED.value, "last_reason": reason.value})
        )
        await self._report(_target_of(state), state, SyncState.FAILED, reason, message)
        return state

    async def _restore(self, state: AppliedState, session: ProviderSession) -> ApplyResult:
        """Write the system's version (the applied entries) back over drifted provider events.

        The caller holds ``self.locks.hold(state.appointment_id)``. Deleted events are
        re-created under a fresh id (next generation), edited ones overwritten.
        """
        target = _target_of(state)
        desired = [applied.entry for _, applied in sorted(state.entries.items())]
        try:
            state, _ = await self._execute(session, target, desired, state, restore=True)
        except (_FailedWithState, _RetryLaterWithState) as error:
            state = await self.states.save(error.state)
            await self._report(target, state, SyncState.FAILED, error.reason, error.message, retriable=True)
            return ApplyResult(SyncState.FAILED, error.reason, error.message, True, state.event_ids())
        state = await self.states.save(
            state.model_copy(
                update={
                    "last_state": SyncState.SYNCED.value,
                    "last_reason": None,
                    "last_message": None,
                    "reported_drift": [],
                }
            )
        )
        await self._report(target, state, SyncState.SYNCED)
        return ApplyResult(SyncState.SYNCED, event_ids=state.event_ids())

    # ------------------------------------------------------------ operations

    async def _execute(
        self,
        session: ProviderSession,
        target: Target,
        desired: list[CalendarEntry],
        state: AppliedState,
        *,
        restore: bool,
    ) -> tuple[AppliedState, list[ProviderEvent]]:
        """Plan and run, recording progress in ``state`` as each operation succeeds; failures
        come out as ``_RetryLaterWithState`` / ``_FailedWithState`` carrying that progress."""
        events: list[ProviderEvent] = []
        try:
            rewrite: set[str] = set()
            if restore:
                state, rewrite = await self._verify_entries(session, state)
            for phase in plan(desired, state, rewrite=rewrite).phases:
                state, failure = await self._run_phase(session, target, phase, state, events)
                if failure is not None:
                    raise failure
        except TransientProviderError as error:
            reason = (
                SyncFailureReason.RATE_LIMITED
                if error.rate_limited
                else SyncFailureReason.PROVIDER_UNAVAILABLE
            )
            raise _RetryLaterWithState(reason, _transient_message(error), state) from error
        except ReauthRequired as error:
            raise _FailedWithState(SyncFailureReason.REAUTH_REQUIRED, str(error), False, state) from error
        except ConnectionInactive as error:
            raise _FailedWithState(SyncFailureReason.CONNECTION_INACTIVE, str(error), False, state) from error
        except TokenError as error:
            if error.retriable:
                raise _RetryLaterWithState(
                    SyncFailureReason.PROVIDER_UNAVAILABLE, str(error), state
                ) from error
            raise _FailedWithState(SyncFailureReason.PROVIDER_REJECTED, str(error), False, state) from error
        except ProviderError as error:
            message = f"The calendar provider refused the change: {error.message}"
            raise _FailedWithState(SyncFailureReason.PROVIDER_REJECTED, message, False, state) from error
        return state, events

    async def _run_phase(
        self,
        session: ProviderSession,
        target: Target,
        phase: Sequence[Operation],
        state: AppliedState,
        events: list[ProviderEvent],
    ) -> tuple[AppliedState, BaseException | None]:
        """Run one phase's operations at once (each on its own provider event: a confirmation's
        releases of the other holds need not wait for each other). Returns ``state`` with what
        succeeded recorded, also when another operation of the phase failed, and the first
        failure in plan order (the caller raises it with that progress, as after a failure of a
        sequential run)."""
        results: list[tuple[AppliedEntry | None, ProviderEvent | None] | BaseException]
        if len(phase) == 1:
            try:
                results = [await self._run_op(session, target, phase[0], state)]
            except Exception as error:  # recorded below like a failure inside a gathered phase
                results = [error]
        else:
            results = await asyncio.gather(
                *(self._run_op(session, target, op, state) for op in phase), return_exceptions=True
            )
        failure: BaseException | None = None
        for op, result in zip(phase, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                if isinstance(op, CreateOp):
                    state = _unsettle(state, op)
                continue
            applied, event = result
            state = _record(state, op, applied)
            if event is not None:
                events.append(event)
        return state, failure

    async def _run_op(
        self,
        session: ProviderSession,
        target: Target,
        op: Operation,
        state: AppliedState,
    ) -> tuple[AppliedEntry | None, ProviderEvent | None]:
        if isinstance(op, DeleteOp):
            await self._delete(session, op.applied)
            return None, None
        meta = EventMeta(
            appointment_id=target.appointment_id,
            tenant_id=target.tenant_id,
            appointment_version=target.version,
            entry_key=op.entry.key,
        )
        if isinstance(op, SettleOp):
            await self._settle(session, op.unsettled, meta)
            return None, None
        if isinstance(op, UpdateOp):
            return await self._update(session, op.entry, meta, op.applied, state)
        return await self._create(session, op.entry, meta, op.generation)

    async def _settle(self, session: ProviderSession, unsettled: UnsettledCreate, meta: EventMeta) -> None:
        """Make sure the event an unsettled create may have made is gone (see ``SettleOp``)."""
        try:
            made, _ = await self._create(session, unsettled.entry, meta, unsettled.generation)
        except TransientProviderError:
            raise  # the provider may answer later: the next round settles it
        except ProviderError as error:
            # Refused for good: repeating it every round would hold up the appointment's syncs.
            log.warning(
                "an unsettled create could not be repeated; left as it is",
                extra={"entry_key": meta.entry_key, "error": type(error).__name__},
            )
            return
        await self._delete(session, made)

    async def _delete(self, session: ProviderSession, applied: AppliedEntry) -> None:
        with contextlib.suppress(EventNotFound):  # already gone: deleting is done
            await session.call(lambda a: self.provider.delete_event(a, applied.event_id), "delete event")

    async def _create(
        self, session: ProviderSession, entry: CalendarEntry, meta: EventMeta, generation: int
    ) -> tuple[AppliedEntry, ProviderEvent]:
        for gen in range(generation, generation + MAX_ID_GENERATIONS):
            client_id = self.provider.client_id_for(meta, gen)
            try:
                event = await session.call(_creator(self.provider, client_id, entry, meta), "create event")
            except EventAlreadyExists:
                adopted = await self._adopt(session, client_id, entry, meta)
                if adopted is None:
                    continue  # the id is burnt (deleted incarnation or not ours): next generation
                event = adopted
            return _applied(entry, event, gen), event
        raise ProviderRejected(
            f"no usable event id for {meta.entry_key} after {MAX_ID_GENERATIONS} generations"
        )

    async def _adopt(
        self, session: ProviderSession, client_id: str, entry: CalendarEntry, meta: EventMeta
    ) -> ProviderEvent | None:
        """A 409 on insert: the event is "already done" if it is ours and alive."""
        existing = await session.call(lambda a: self.provider.get_event(a, client_id), "get event")
        if existing is None or existing.cancelled or not existing.is_ours(meta):
            log.info("event id taken; moving to the next generation", extra={"entry_key": meta.entry_key})
            return None
        if entry_differences(entry, existing):
            return await session.call(
                lambda a: self.provider.update_event(a, existing.event_id, entry, meta, None), "update event"
            )
        return existing

    async def _update(
        self,
        session: ProviderSession,
        entry: CalendarEntry,
        meta: EventMeta,
        applied: AppliedEntry,
        state: AppliedState,
    ) -> tuple[AppliedEntry, ProviderEvent]:
        try:
            event = await session.call(
                lambda a: self.provider.update_event(a, applied.event_id, entry, meta, None), "update event"
            )
        except EventNotFound:
            event = None
        if event is None or event.cancelled:
            # Deleted behind our back: a new incarnation with a fresh id.
            return await self._create(
                session, entry, meta, max(state.next_generation(entry.key), applied.generation + 1)
            )
        return _applied(entry, event, applied.generation), event

    async def _verify_entries(
        self, session: ProviderSession, state: AppliedState
    ) -> tuple[AppliedState, set[str]]:
        """For restore: drop entries whose provider event is gone (the plan re-creates them)
        and name the edited ones, which the plan rewrites even where the desired content is
        what we applied."""
        entries = dict(state.entries)
        edited: set[str] = set()
        for key, applied in state.entries.items():
            event = await self._get_or_none(session, applied.event_id)
            if event is None or event.cancelled:
                del entries[key]
            elif entry_differences(applied.entry, event):
                edited.add(key)
        return state.model_copy(update={"entries": entries}), edited

    async def _get_or_none(self, session: ProviderSession, event_id: str) -> ProviderEvent | None:
        try:
            return await session.call(lambda a: self.provider.get_event(a, event_id), "get event")
        except EventNotFound:
            return None


class _RetryLaterWithState(Exception):
    def __init__(self, reason: SyncFailureReason, message: str, state: AppliedState) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.state = state


class _FailedWithState(_Failed):
    def __init__(self, reason: SyncFailureReason, message: str, advance: bool, state: AppliedState) -> None:
        super().__init__(reason, message, advance=advance)
        self.state = state


def _creator(
    provider: CalendarProvider, client_id: str, entry: CalendarEntry, meta: EventMeta
) -> Callable[[ProviderAccess], Awaitable[ProviderEvent]]:
    async def create(access: ProviderAccess) -> ProviderEvent:
        return await provider.create_event(access, client_id, entry, meta)

    return create


def _applied(entry: CalendarEntry, event: ProviderEvent, generation: int) -> AppliedEntry:
    return AppliedEntry(
        key=entry.key, event_id=event.event_id, generation=generation, etag=event.etag, entry=entry
    )


def _record(state: AppliedState, op: Operation, applied: AppliedEntry | None) -> AppliedState:
    """``state`` after ``op`` succeeded (``applied``: what a create or an update wrote)."""
    entries = dict(state.entries)
    generations = dict(state.generations)
    unsettled = dict(state.unsettled)
    if isinstance(op, DeleteOp):
        entries.pop(op.applied.key, None)
        generations[op.applied.key] = max(generations.get(op.applied.key, 0), op.applied.generation)
    elif isinstance(op, SettleOp):
        unsettled.pop(op.entry.key, None)
        generations[op.entry.key] = max(generations.get(op.entry.key, 0), op.unsettled.generation)
    elif applied is not None:
        entries[applied.key] = applied
        unsettled.pop(applied.key, None)
        generations[applied.key] = max(generations.get(applied.key, 0), applied.generation)
    return state.model_copy(update={"entries": entries, "generations": generations, "unsettled": unsettled})


def _unsettle(state: AppliedState, op: CreateOp) -> AppliedState:
    """``state`` after ``op`` failed: the event may exist all the same (see ``UnsettledCreate``)."""
    unsettled = {**state.unsettled, op.entry.key: UnsettledCreate(entry=op.entry, generation=op.generation)}
    return state.model_copy(update={"unsettled": unsettled})


def _touches(state: AppliedState, observed: Mapping[str, ProviderEvent]) -> bool:
    return bool(state.entries) and any(a.event_id in observed for a in state.entries.values())


def _target_of(state: AppliedState) -> Target:
    return Target(state.appointment_id, state.tenant_id, state.appointment_version)


def _drift_message(changes: list[DriftChange]) -> str:
    parts = []
    for change in changes:
        if change.kind is DriftKind.DELETED:
            parts.append(f"{change.entry_key}: deleted in the calendar")
        else:
            parts.append(f"{change.entry_key}: {change.field} changed in the calendar")
    return "The calendar event was changed outside the system: " + "; ".join(parts)


def _declined_room(events: list[ProviderEvent]) -> str | None:
    for event in events:
        if event.room_response is RoomResponse.DECLINED and not event.cancelled:
            return f"The room {event.room_email} declined the booking; choose another room or time."
    return None


def _transient_message(error: TransientProviderError) -> str:
    if error.rate_limited:
        return "The calendar provider kept rate-limiting the request; it will be retried."
    return f"The calendar provider is unavailable ({error.status or 'network'}); it will be retried."
