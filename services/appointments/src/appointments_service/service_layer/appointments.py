"""The scheduling use cases: create, read, change (with R8), guest pick, check-in, sync status,
restore.

Each use case loads the aggregate, runs the checks that need the outside world (the bound
connection still usable, R8; the calendar's availability), lets the aggregate make the change,
and stores it with its outbox entries in one compare-and-set write. The pure checks run first,
in a fixed order, so a refused request never costs a call to another service; the aggregate
runs them again itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from appointments_service.adapters.repository import AppointmentRepository, Conflict, ReceptionCodeTaken
from appointments_service.domain import access, rules
from appointments_service.domain.access import Action, Caller
from appointments_service.domain.availability import apply_answer, availability_query
from appointments_service.domain.errors import (
    AppointmentNotFound,
    BoundConnectionUnusable,
    DependencyUnavailable,
    GuestLinkExpired,
    GuestLinkInvalid,
    InvalidState,
    PreconditionFailed,
    ReceptionCodeExhausted,
    ReceptionCodeUnknown,
    RoomGroupSelectionRequired,
)
from appointments_service.domain.model import (
    Appointment,
    Availability,
    AvailabilityState,
    CalendarSyncView,
    Changed,
    CheckIn,
    DetailsChange,
)
from appointments_service.domain.rules import SlotDraft
from appointments_service.service_layer.connection_view import ConnectionStatusView
from appointments_service.service_layer.events import routed_entries
from appointments_service.service_layer.guest_messages import with_confirmation, with_invitation
from appointments_service.service_layer.ports import (
    AuthUnavailable,
    CalendarGateway,
    ConnectionDirectory,
    ConnectorUnavailable,
)
from appointments_service.service_layer.sync_watch import SyncChanges, wait_for
from visitor_common import metrics
from visitor_common.events import (
    AppointmentStatus,
    CalendarBinding,
    CalendarConnectionLinked,
    CalendarSyncStatusReported,
    CandidateSlot,
    ConnectionStatus,
    Guest,
    Provider,
)
from visitor_common.sealing import Sealer

log = logging.getLogger(__name__)

# How often a long poll on the sync state reads the store even without a wake-up.
SYNC_RECHECK_SECONDS = 1.0

Clock = Callable[[], datetime]
PROVIDER_LABELS = rules.PROVIDER_LABELS
GUEST_NOT_BOOKABLE = (
    "This visit cannot be booked right now: the host's calendar cannot be updated at the moment. "
    "Please contact the host."
)


@dataclass(frozen=True)
class ServiceConfig:
    event_source: str = "/services/appointments"
    guest_link_ttl: timedelta = timedelta(days=14)
    guest_base_url: str = "/v1/guest/appointments"
    reception_code_attempts: int = 20
    write_attempts: int = 5


@dataclass(frozen=True)
class Host:
    """The calling employee (from the verified JWT) and the bearer token to forward.

    The bearer is only ever forwarded to ask about the caller's *own* calendar: the ownership
    rule (``domain.access``) lets nobody but the host change an appointment, so free/busy and
    rooms checked for a change are always the host's."""

    tenant_id: str
    employee_id: str
    email: str | None
    bearer: str
    is_admin: bool = False

    @property
    def caller(self) -> Caller:
        return Caller(tenant_id=self.tenant_id, employee_id=self.employee_id, is_admin=self.is_admin)


@dataclass(frozen=True)
class NewAppointment:
    title: str
    guests: Sequence[Guest]
    duration_minutes: int
    candidates: Sequence[SlotDraft]
    notes: str | None = None
    hold_candidates: bool = True
    any_free_room: bool = False


@dataclass(frozen=True)
class Created:
    appointment: Appointment
    guest_token: str


@dataclass(frozen=True)
class Picked:
    appointment: Appointment
    reception_code: str


@dataclass(frozen=True)
class GuestView:
    """What the guest may do: ``bookable`` is false while the bound calendar is unusable."""

    appointment: Appointment
    candidates: list[CandidateSlot]
    bookable: bool = True
    notice: str | None = None


@dataclass(frozen=True)
class GuestIssued:
    appointment: Appointment
    guest_token: str


@dataclass(frozen=True)
class Desk:
    """The calling reception device (from its verified token)."""

    tenant_id: str
    device_id: str


@dataclass(frozen=True)
class CheckedIn:
    appointment: Appointment
    check_in: CheckIn


def _now_utc() -> datetime:
    return datetime.now(UTC)


class AppointmentService:
    def __init__(
        self,
        repository: AppointmentRepository,
        directory: ConnectionDirectory,
        gateway: CalendarGateway,
        *,
        config: ServiceConfig | None = None,
        notify: Callable[[], None] = lambda: None,
        clock: Clock = _now_utc,
        sealer: Sealer | None = None,
        connection_view: ConnectionStatusView | None = None,
    ) -> None:
        self.repo = repository
        self.directory = directory
        self.connection_view = connection_view
        self.sync_changes = SyncChanges()
        self.gateway = gateway
        self.config = config or ServiceConfig()
        self.notify = notify
        self.clock = clock
        self.sealer = sealer

    # --- create ----------------------------------------------------------------------------

    async def create(self, host: Host, request: NewAppointment) -> Created:
        now = self.clock()
        candidates = rules.build_candidates(request.candidates, request.duration_minutes, now)
        binding = await self._current_binding(host)
        host_email = rules.host_email(host.email, binding)
        candidates, availability = await self._check(
            binding, host.bearer, candidates, request.any_free_room, now
        )
        token = rules.new_guest_token()
        created = Appointment.propose(
            appointment_id=rules.new_appointment_id(),
            tenant_id=host.tenant_id,
            host_employee_id=host.employee_id,
            host_email=host_email,
            title=request.title,
            notes=request.notes,
            guests=request.guests,
            duration_minutes=request.duration_minutes,
            candidates=candidates,
            hold_candidates=request.hold_candidates,
            any_free_room=request.any_free_room,
            binding=binding,
            availability=availability,
            guest_token=token,
            guest_link_ttl=self.config.guest_link_ttl,
            now=now,
        )
        created = with_invitation(created, self._guest_url(token), self.sealer)
        await self.repo.add(created.appointment, self._entries(created))
        self.notify()
        return Created(appointment=created.appointment, guest_token=token)

    async def _current_binding(self, host: Host) -> CalendarBinding | None:
        """R8: bind to the host's active connection at creation time (``None``: not linked, R2)."""
        try:
            info = await self.directory.active_connection(host.tenant_id, host.employee_id)
        except AuthUnavailable as error:
            raise DependencyUnavailable("The calendar-connection directory did not answer.") from error
        if info is None or info.status is not ConnectionStatus.ACTIVE:
            return None
        return CalendarBinding(
            provider=info.provider, connection_id=info.connection_id, account_email=info.account_email
        )

    async def _check(
        self,
        binding: CalendarBinding | None,
        bearer: str,
        candidates: tuple[CandidateSlot, ...],
        any_free_room: bool,
        now: datetime,
    ) -> tuple[tuple[CandidateSlot, ...], Availability]:
        """Ask the bound connector; an unreachable connector means "unknown", never a failure."""
        if binding is None:
            reason = "No calendar is linked, so availability was not checked."
            return candidates, rules.unchecked(candidates, AvailabilityState.NOT_CHECKED, reason)
        label = PROVIDER_LABELS[binding.provider]
        try:
            rooms = []
            if any_free_room and any(c.room is None for c in candidates):
                directory = await self.gateway.rooms(binding.provider, bearer)
                if directory.selection_required:
                    raise RoomGroupSelectionRequired(
                        f"Choose the {'building' if binding.provider is Provider.GOOGLE else 'room list'} "
                        "that holds your rooms before asking for any free room.",
                        provider=binding.provider.value,
                        choices=[c.model_dump() for c in directory.choices],
                    )
                rooms = directory.rooms
            answer = await self.gateway.availability(
                binding.provider, bearer, availability_query(candidates, any_free_room)
            )
        except ConnectorUnavailable as error:
            log.warning(
                "availability unknown", extra={"provider": binding.provider.value, "error": str(error)}
            )
            reason = f"The {label} calendar could not be asked; availability is unknown."
            return candidates, rules.unchecked(candidates, AvailabilityState.UNKNOWN, reason)
        return apply_answer(candidates, answer, any_free_room=any_free_room, directory=rooms, now=now)

    # --- read ------------------------------------------------------------------------------

    async def get(self, host: Host, appointment_id: str) -> tuple[Appointment, CalendarSyncView]:
        appointment, _ = await self._load(host, appointment_id, Action.READ)
        return appointment, await self.sync_view(appointment)

    async def watch_sync(
        self, host: Host, appointment_id: str, after_revision: int, wait_seconds: float
    ) -> tuple[Appointment, CalendarSyncView, int]:
        """The sync view once its revision (a counter of the accepted connector reports) is past
        ``after_revision``, or whatever it is after ``wait_seconds``; with the revision.

        Woken by this process's sync-status consumer; the store is read again at least every
        ``SYNC_RECHECK_SECONDS`` too, because with several instances of the service another one
        may be the consumer that stores the report."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            changed = self.sync_changes.subscribe(appointment_id)
            appointment, _ = await self._load(host, appointment_id, Action.READ)
            report, revision = await self.repo.get_sync(appointment_id)
            remaining = deadline - loop.time()
            if revision > after_revision or remaining <= 0:
                connection = await self._status_for_view(appointment, {})
                return appointment, rules.sync_view(appointment, report, connection), revision
            await wait_for(changed, min(remaining, SYNC_RECHECK_SECONDS))

    async def sync_view(
        self, appointment: Appointment, statuses: dict[str, ConnectionStatus | None] | None = None
    ) -> CalendarSyncView:
        """The calendar-sync view of an appointment the caller was already allowed to see
        (``statuses``: connection statuses already asked during this request)."""
        report, _ = await self.repo.get_sync(appointment.appointment_id)
        connection = await self._status_for_view(appointment, {} if statuses is None else statuses)
        return rules.sync_view(appointment, report, connection)

    async def list_for_host(self, host: Host, limit: int = 100) -> list[tuple[Appointment, CalendarSyncView]]:
        found = await self.repo.for_host(host.tenant_id, host.employee_id, limit=limit)
        statuses: dict[str, ConnectionStatus | None] = {}  # a host has one or two connections
        return [(appointment, await self.sync_view(appointment, statuses)) for appointment in found]

    async def _status_for_view(
        self, appointment: Appointment, statuses: dict[str, ConnectionStatus | None]
    ) -> ConnectionStatus | None:
        """The bound connection's status for a view; ``None`` when unbound or when the auth
        service cannot be asked (a view never fails for it: it just cannot say "blocked")."""
        binding = appointment.binding
        if binding is None:
            return None
        if binding.connection_id not in statuses:
            try:
                statuses[binding.connection_id] = await self._binding_status(binding)
            except AuthUnavailable:
                log.warning("connection status unknown", extra={"connection_id": binding.connection_id})
                statuses[binding.connection_id] = None
        return statuses[binding.connection_id]

    # --- host changes ----------------------------------------------------------------------

    async def update_details(
        self, host: Host, appointment_id: str, if_match: str | None, change: DetailsChange
    ) -> Appointment:
        return await self._change(
            host, Action.CHANGE, appointment_id, if_match, lambda a: a.update_details(change, self.clock())
        )

    async def reschedule(
        self,
        host: Host,
        appointment_id: str,
        if_match: str | None,
        drafts: Sequence[SlotDraft],
        any_free_room: bool | None = None,
    ) -> Appointment:
        now = self.clock()
        current, _ = await self._load(host, appointment_id, Action.CHANGE)
        rules.check_version(current, rules.parse_if_match(if_match))
        current.require_reschedulable(len(drafts))
        candidates = rules.build_candidates(drafts, current.duration_minutes, now)
        await self._ensure_binding_usable(current)
        free_room = current.any_free_room if any_free_room is None else any_free_room
        candidates, availability = await self._check(current.binding, host.bearer, candidates, free_room, now)

        def apply(latest: Appointment) -> Changed:
            return latest.reschedule(
                candidates,
                availability,
                any_free_room=free_room,
                guest_link_ttl=self.config.guest_link_ttl,
                now=now,
            )

        # The availability check took a while: store only if nothing changed meanwhile.
        return await self._change(host, Action.CHANGE, appointment_id, if_match, apply, check_binding=False)

    async def cancel(
        self, host: Host, appointment_id: str, if_match: str | None, reason: str | None
    ) -> Appointment:
        """Cancel at once. If the bound connection is unusable (R8), the calendar side is held
        until that same connection is linked again (0004); it never goes to another calendar."""
        current, _ = await self._load(host, appointment_id, Action.CANCEL)
        rules.check_version(current, rules.parse_if_match(if_match))
        current.require_changeable()
        status = await self._status_or_unavailable(current)
        if status is None or status is ConnectionStatus.ACTIVE:
            return await self._change(
                host, Action.CANCEL, appointment_id, if_match, lambda a: a.cancel(reason, self.clock())
            )
        report, _ = await self.repo.get_sync(appointment_id)
        event_ids = report.provider_event_ids if report is not None else {}

        def held(latest: Appointment) -> Changed:
            return latest.cancel(reason, self.clock(), calendar_unusable=status, provider_event_ids=event_ids)

        cancelled = await self._change(
            host, Action.CANCEL, appointment_id, if_match, held, check_binding=False
        )
        log.info("cancellation held: bound connection unusable", extra={"appointment_id": appointment_id})
        # The connection may have come back while this was written (its "linked" event then
        # found nothing to release): look once more, so the cancellation cannot stay stuck.
        if await self._status_or_none(cancelled) is ConnectionStatus.ACTIVE:
            return await self._release(appointment_id) or cancelled
        return cancelled

    async def request_restore(self, host: Host, appointment_id: str, if_match: str | None) -> Appointment:
        """R9: ask the bound connector to write the system's version back over drifted events.
        If-Match is optional here: without it, the version just read is the one restored."""
        current, _ = await self._load(host, appointment_id, Action.CHANGE)
        current.require_linked()
        if_match = if_match or rules.etag(current.version)
        return await self._change(
            host, Action.CHANGE, appointment_id, if_match, lambda a: a.request_restore(self.clock())
        )

    async def reissue_guest_link(self, host: Host, appointment_id: str, if_match: str | None) -> GuestIssued:
        """Withdraw the old link and issue a new token (returned once, only its hash is kept)."""
        token = rules.new_guest_token()
        now = self.clock()
        appointment = await self._change(
            host,
            Action.CHANGE,
            appointment_id,
            if_match,
            lambda a: with_invitation(
                a.reissue_guest_link(token, self.config.guest_link_ttl, now),
                self._guest_url(token),
                self.sealer,
            ),
            check_binding=False,
        )
        return GuestIssued(appointment=appointment, guest_token=token)

    async def revoke_guest_link(self, host: Host, appointment_id: str, if_match: str | None) -> Appointment:
        return await self._change(
            host,
            Action.CHANGE,
            appointment_id,
            if_match,
            lambda a: a.revoke_guest_link(self.clock()),
            check_binding=False,
        )

    async def _load(
        self, host: Host, appointment_id: str, action: Action
    ) -> tuple[Appointment, list[dict[str, Any]]]:
        """The appointment, if ``host`` may do ``action`` on it; otherwise 404, as if absent."""
        loaded = await self.repo.get(host.tenant_id, appointment_id)
        if loaded is None:
            raise AppointmentNotFound()
        access.require(loaded[0], host.caller, action)
        return loaded

    async def _change(
        self,
        host: Host,
        action: Action,
        appointment_id: str,
        if_match: str | None,
        apply: Callable[[Appointment], Changed],
        *,
        check_binding: bool = True,
    ) -> Appointment:
        """Load, check If-Match, the state and R8, apply, and store the change with its events
        in one write (compare-and-set on the version read)."""
        current, _ = await self._load(host, appointment_id, action)
        rules.check_version(current, rules.parse_if_match(if_match))
        current.require_changeable()
        if check_binding:
            await self._ensure_binding_usable(current)
        changed = apply(current)
        try:
            await self.repo.save(
                changed.appointment, self._entries(changed), expected_version=current.version
            )
        except Conflict as error:
            raise PreconditionFailed(
                "The appointment changed while your request was processed; read it again."
            ) from error
        except ReceptionCodeTaken as error:
            # Only reachable after a race (the code was freed and taken by another visit while
            # this change was made): the caller reads again, it is not a server fault.
            raise InvalidState(
                "The appointment's reception code changed while your request was processed; read it again."
            ) from error
        self.notify()
        return changed.appointment

    def _guest_url(self, token: str) -> str:
        return rules.guest_url(self.config.guest_base_url, token)

    def _entries(self, changed: Changed) -> list[dict[str, Any]]:
        return routed_entries(changed.appointment, changed.events, self.config.event_source)

    async def _binding_status(self, binding: CalendarBinding) -> ConnectionStatus:
        """The bound connection's status at the auth service (a deleted one counts as unlinked).
        Raises ``AuthUnavailable``.

        Answered from the connections topic's view when it knows the connection (a pick or a
        read then costs no call to the auth service); asked of the auth service otherwise."""
        if self.connection_view is not None:
            announced = self.connection_view.status(binding.connection_id)
            if announced is not None:
                return announced
        info = await self.directory.connection(binding.connection_id)
        return info.status if info is not None else ConnectionStatus.UNLINKED

    async def _status_or_unavailable(self, appointment: Appointment) -> ConnectionStatus | None:
        """The bound connection's status (``None``: unbound); 503 when auth cannot be asked."""
        if appointment.binding is None:
            return None
        try:
            return await self._binding_status(appointment.binding)
        except AuthUnavailable as error:
            raise DependencyUnavailable("Could not verify the appointment's calendar connection.") from error

    async def _status_or_none(self, appointment: Appointment) -> ConnectionStatus | None:
        return await self._status_for_view(appointment, {})

    async def _ensure_binding_usable(self, appointment: Appointment) -> None:
        """R8: a change may only go to the bound connection; refuse it when that one is unusable."""
        binding = appointment.binding
        status = await self._status_or_unavailable(appointment)
        if binding is None or status is ConnectionStatus.ACTIVE:
            return
        assert status is not None
        label = PROVIDER_LABELS[binding.provider]
        raise BoundConnectionUnusable(
            f"This appointment was created with the {label} calendar of {binding.account_email}, and every "
            f"change goes to that calendar only. That connection is no longer usable: "
            f"{rules.CONNECTION_PROBLEMS.get(status, status.value)}. Link the {label} calendar "
            f"{binding.account_email} again to change this appointment; it is never written "
            "to another calendar. (Cancelling works meanwhile: the calendar side then waits for "
            "the relink.)",
            provider=binding.provider.value,
            connection_id=binding.connection_id,
            account_email=str(binding.account_email),
            connection_status=status.value,
            action=f"relink_{binding.provider.value}",
        )

    # --- held calendar changes (R8, decision 0004) ------------------------------------------

    async def release_held_for_link(self, event: CalendarConnectionLinked) -> list[str]:
        """The host linked a connection: release the cancellations held for exactly that
        connection of that account. Returns the appointments released.

        The auth service is asked first whether the connection is still active, so a replayed
        or stale "linked" event cannot send a cancellation to a connection unlinked since;
        ``AuthUnavailable`` propagates (the event is then redelivered)."""
        found = await self.repo.holding_for_connection(event.tenant_id, event.connection_id)
        matching = [
            a.appointment_id
            for a in found
            if a.released_by_link(
                event.tenant_id,
                event.employee_id,
                event.provider,
                event.connection_id,
                str(event.account_email),
            )
        ]
        if not matching:
            return []
        info = await self.directory.connection(event.connection_id)
        if info is None or info.status is not ConnectionStatus.ACTIVE:
            return []
        return [a for a in matching if await self._release(a) is not None]

    async def _release(self, appointment_id: str) -> Appointment | None:
        """Write the held cancellation to the bound provider's topic (CAS; retried on a race)."""
        for _ in range(self.config.write_attempts):
            loaded = await self.repo.get_any(appointment_id)
            if loaded is None or loaded[0].held_calendar_change is None:
                return None
            current = loaded[0]
            changed = current.release_held_change(self.clock())
            entries = routed_entries(
                changed.appointment, changed.events, self.config.event_source, released=True
            )
            try:
                await self.repo.save(changed.appointment, entries, expected_version=current.version)
            except Conflict:
                continue
            log.info("held cancellation released", extra={"appointment_id": appointment_id})
            self.notify()
            return changed.appointment
        return None

    # --- guest -----------------------------------------------------------------------------

    async def guest_view(self, token: str) -> GuestView:
        """The candidates still available; none, with a notice, while the bound calendar is
        unusable (a pick would only fail with 409)."""
        appointment, _ = await self._by_token(token)
        available = appointment.available_candidates(self.clock())
        if appointment.status is AppointmentStatus.PROPOSED and rules.is_blocked(
            appointment, await self._status_or_none(appointment)
        ):
            return GuestView(appointment, [], bookable=False, notice=GUEST_NOT_BOOKABLE)
        return GuestView(appointment, available)

    async def _by_token(self, token: str) -> tuple[Appointment, list[dict[str, Any]]]:
        loaded = await self.repo.by_guest_token_hash(rules.hash_guest_token(token))
        if loaded is None or loaded[0].guest_link is None:
            raise GuestLinkInvalid()
        if not loaded[0].guest_link.usable(self.clock()):
            raise GuestLinkExpired()
        return loaded

    async def pick(self, token: str, slot_id: str) -> Picked:
        """Confirm the guest's choice; of two concurrent picks exactly one wins (CAS on version).
        Picking the confirmed slot again answers the same confirmation; another slot is 409."""
        for _ in range(self.config.reception_code_attempts):
            current, _ = await self._by_token(token)
            repeated = current.repeated_pick(slot_id)
            if repeated is not None:  # idempotent: nothing is written, the code is shown again
                return Picked(appointment=current, reception_code=repeated.code)
            now = self.clock()
            current.check_pick(slot_id, now)
            await self._ensure_binding_usable_for_guest(current)
            code = rules.new_reception_code()
            changed = with_confirmation(current.confirm(slot_id, code, now), code, self.sealer)
            try:
                await self.repo.save(
                    changed.appointment, self._entries(changed), expected_version=current.version
                )
            except Conflict:
                continue  # someone else wrote first: re-read; a confirmed appointment answers 409
            except ReceptionCodeTaken:
                await self._release_if_over(current.tenant_id, code, now)
                continue
            self.notify()
            return Picked(appointment=changed.appointment, reception_code=code)
        raise ReceptionCodeExhausted()

    async def _ensure_binding_usable_for_guest(self, appointment: Appointment) -> None:
        """R8 for the guest's pick, without revealing the host's calendar account to the guest."""
        try:
            await self._ensure_binding_usable(appointment)
        except BoundConnectionUnusable as error:
            log.warning("guest pick refused: bound connection unusable", extra=error.context)
            raise BoundConnectionUnusable(GUEST_NOT_BOOKABLE) from error

    async def _release_if_over(self, tenant_id: str, code: str, now: datetime) -> None:
        """A code stays taken while its appointment lies ahead; free it once that is over.

        The release is a write like any other (a new version, so a change of the holder made
        concurrently fails its compare-and-set instead of re-activating the code), without
        events: no consumer needs to hear of it. A lost race needs nothing: the caller draws
        again and, if the code is still held, comes back here."""
        holder = await self.repo.active_code_holder(tenant_id, code)
        released = holder.release_reception_code(now) if holder is not None else None
        if holder is None or released is None:
            return
        try:
            await self.repo.save(released, [], expected_version=holder.version)
        except Conflict:
            return

    # --- reception -------------------------------------------------------------------------

    async def check_in(self, desk: Desk, reception_code: str) -> CheckedIn:
        """The guest arrived: mark the visit checked in and tell the lifecycle topic (the host's
        mail). Checking in again answers the first check-in; a code no active visit of the
        tenant holds is ``ReceptionCodeUnknown``."""
        for _ in range(self.config.write_attempts):
            holder = await self.repo.active_code_holder(desk.tenant_id, reception_code)
            loaded = await self.repo.get(desk.tenant_id, holder.appointment_id) if holder else None
            if loaded is None:
                raise ReceptionCodeUnknown()
            current = loaded[0]
            if current.reception is None or current.reception.code != reception_code:
                continue  # the code moved on between the two reads
            repeated = current.repeated_check_in()
            if repeated is not None:
                return CheckedIn(current, repeated)
            changed = current.check_in(desk.device_id, self.clock())
            try:
                await self.repo.save(
                    changed.appointment, self._entries(changed), expected_version=current.version
                )
            except Conflict:
                continue  # another tablet or a host change won: read again
            self.notify()
            metrics.checkin("accepted")
            check_in = changed.appointment.repeated_check_in()
            assert check_in is not None
            log.info("guest checked in", extra={"appointment_id": current.appointment_id})
            return CheckedIn(changed.appointment, check_in)
        raise PreconditionFailed("The appointment changed while checking in; try again.")

    # --- sync status -----------------------------------------------------------------------

    async def record_sync_status(self, report: CalendarSyncStatusReported) -> bool:
        """Store a connector's status if it is newer than the stored one. Returns whether it was."""
        loaded = await self.repo.get_any(report.appointment_id)
        if loaded is None:
            return False
        appointment = loaded[0]
        for _ in range(self.config.write_attempts):
            current, stored_version = await self.repo.get_sync(appointment.appointment_id)
            if not rules.accepts_report(appointment, current, report):
                return False
            try:
                await self.repo.put_sync(
                    appointment, rules.report_from_event(report), expected_version=stored_version
                )
            except Conflict:
                continue
            self.sync_changes.changed(appointment.appointment_id)
            return True
        return False
