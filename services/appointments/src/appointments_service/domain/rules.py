"""The scheduling rules that are not one aggregate's transitions, as pure functions: candidate
validation, ids, tokens and codes, the version check, sync state. (The transitions and their
guards are methods of ``model.Appointment``.)"""

from __future__ import annotations

import itertools
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from appointments_service.domain.errors import (
    HostEmailUnknown,
    InvalidAppointment,
    PreconditionFailed,
    PreconditionRequired,
    Violation,
)
from appointments_service.domain.model import (
    Appointment,
    Availability,
    AvailabilityState,
    CalendarSyncState,
    CalendarSyncView,
    GuestLink,
    SlotCheck,
    SyncReport,
)
from visitor_common.events import (
    AppointmentStatus,
    CalendarBinding,
    CalendarSyncStatusReported,
    CandidateSlot,
    ConnectionStatus,
    Provider,
    RoomRef,
    SyncFailureReason,
)

MIN_CANDIDATES = 1
MAX_CANDIDATES = 10
MIN_DURATION_MINUTES = 5
MAX_DURATION_MINUTES = 12 * 60
MAX_HORIZON = timedelta(days=366)
MAX_SLOT_SPAN = timedelta(minutes=MAX_DURATION_MINUTES)
RECEPTION_CODE_DIGITS = 6
GUEST_TOKEN_BYTES = 32  # 256 bits, well above the 128-bit floor


@dataclass(frozen=True)
class SlotDraft:
    """A candidate as the host proposes it (``end`` defaults to start + duration)."""

    start: datetime
    end: datetime | None = None
    room: RoomRef | None = None


def validate_duration(duration_minutes: int) -> list[Violation]:
    if MIN_DURATION_MINUTES <= duration_minutes <= MAX_DURATION_MINUTES:
        return []
    return [
        Violation(
            ("duration_minutes",),
            f"duration must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES} minutes",
            "duration_out_of_range",
        )
    ]


def _slot_errors(index: int, draft: SlotDraft, duration: timedelta, now: datetime) -> list[Violation]:
    at: tuple[str | int, ...] = ("candidates", index)
    errors: list[Violation] = []
    if draft.start.tzinfo is None or (draft.end is not None and draft.end.tzinfo is None):
        return [Violation(at, "times must carry a UTC offset (ISO 8601 with timezone)", "timezone_aware")]
    # The horizon first, and only by subtraction (which cannot overflow): a start near
    # datetime.max, at any offset, must be refused before ``start + duration`` is computed.
    beyond = _beyond_horizon(at, draft, now)
    if beyond:
        return beyond
    end = draft.end if draft.end is not None else draft.start + duration
    if end <= draft.start:
        errors.append(Violation((*at, "end"), "end must be after start", "end_before_start"))
    elif end - draft.start != duration:
        errors.append(
            Violation((*at, "end"), "the slot must last exactly duration_minutes", "slot_length_mismatch")
        )
    if draft.start <= now:
        errors.append(Violation((*at, "start"), "the slot must start in the future", "slot_in_past"))
    return errors


def _beyond_horizon(at: tuple[str | int, ...], draft: SlotDraft, now: datetime) -> list[Violation]:
    """Start (and a given end) at most ``MAX_HORIZON`` ahead; aware subtraction never overflows."""
    errors = []
    if draft.start - now > MAX_HORIZON:
        errors.append(Violation((*at, "start"), "the slot is more than a year ahead", "slot_too_far"))
    if draft.end is not None and draft.end - now > MAX_HORIZON + MAX_SLOT_SPAN:
        errors.append(Violation((*at, "end"), "the slot ends more than a year ahead", "slot_too_far"))
    return errors


def _overlap_errors(slots: Sequence[tuple[int, datetime, datetime]]) -> list[Violation]:
    errors = []
    ordered = sorted(slots, key=lambda s: s[1])
    for (i, _, end), (j, start, _) in itertools.pairwise(ordered):
        if start < end:
            errors.append(
                Violation(
                    ("candidates", max(i, j)),
                    f"candidate {max(i, j)} overlaps candidate {min(i, j)}",
                    "slots_overlap",
                )
            )
    return errors


def build_candidates(
    drafts: Sequence[SlotDraft], duration_minutes: int, now: datetime
) -> tuple[CandidateSlot, ...]:
    """Validate the proposed slots and give each a fresh id. Raises ``InvalidAppointment``."""
    errors = validate_duration(duration_minutes)
    if not MIN_CANDIDATES <= len(drafts) <= MAX_CANDIDATES:
        errors.append(
            Violation(
                ("candidates",),
                f"propose between {MIN_CANDIDATES} and {MAX_CANDIDATES} candidate slots",
                "candidate_count",
            )
        )
    if errors:
        raise InvalidAppointment(errors)
    duration = timedelta(minutes=duration_minutes)
    for index, draft in enumerate(drafts):
        errors.extend(_slot_errors(index, draft, duration, now))
    if errors:
        raise InvalidAppointment(errors)
    spans = [(i, d.start, d.end or d.start + duration) for i, d in enumerate(drafts)]
    errors = _overlap_errors(spans)
    if errors:
        raise InvalidAppointment(errors)
    return tuple(
        CandidateSlot(slot_id=new_slot_id(), start=start, end=end, room=drafts[i].room)
        for i, start, end in spans
    )


def new_slot_id() -> str:
    return f"s-{uuid.uuid4().hex[:16]}"


def new_appointment_id() -> str:
    return f"apt-{uuid.uuid4().hex}"


# --- guest links and reception codes -------------------------------------------------------


def new_guest_token() -> str:
    return secrets.token_urlsafe(GUEST_TOKEN_BYTES)


def hash_guest_token(token: str) -> str:
    return GuestLink.hash_token(token)


def guest_url(base: str, token: str) -> str:
    """The guest's scheduling URL: the configured base with the token as its last segment."""
    return f"{base.rstrip('/')}/{token}"


def new_guest_link(
    token: str, now: datetime, ttl: timedelta, candidates: Sequence[CandidateSlot]
) -> GuestLink:
    """The link expires after ``ttl`` or when the last candidate starts, whichever is first."""
    return GuestLink.issue(token, now, ttl, candidates)


def new_reception_code() -> str:
    """Six digits from the OS CSPRNG: one code says nothing about another."""
    return f"{secrets.randbelow(10**RECEPTION_CODE_DIGITS):0{RECEPTION_CODE_DIGITS}d}"


# --- optimistic concurrency ----------------------------------------------------------------


def parse_if_match(header: str | None) -> int:
    """``If-Match: "3"`` (or ``W/"3"``) → 3. Missing → 428; unparsable or ``*`` → 412."""
    if header is None or not header.strip():
        raise PreconditionRequired("Send If-Match with the ETag you read (the appointment's version).")
    value = header.strip()
    value = value.removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 12:
        raise PreconditionFailed(f"If-Match {header[:40]!r} is not a version of this appointment.")
    return int(value)


def check_version(appointment: Appointment, expected: int) -> None:
    if appointment.version != expected:
        raise PreconditionFailed(
            f"You sent version {expected}; the appointment is at version {appointment.version}. "
            "Read it again and retry.",
            current_version=appointment.version,
        )


def etag(version: int) -> str:
    return f'"{version}"'


# --- the host ------------------------------------------------------------------------------


def host_email(token_email: str | None, binding: CalendarBinding | None) -> str:
    """The host's address: the token's, else the linked calendar's account."""
    email = token_email or (str(binding.account_email) if binding else None)
    if not email:
        raise HostEmailUnknown("The token carries no e-mail and no calendar is linked.")
    return email


# --- availability ----------------------------------------------------------------------------


def unchecked(
    candidates: Sequence[CandidateSlot], state: AvailabilityState, reason: str | None
) -> Availability:
    return Availability(
        state=state,
        reason=reason,
        slots=tuple(SlotCheck(slot_id=c.slot_id, available=None) for c in candidates),
    )


# --- calendar sync state -------------------------------------------------------------------


def accepts_report(
    appointment: Appointment, current: SyncReport | None, report: CalendarSyncStatusReported
) -> bool:
    """Whether a connector's status may replace the stored one (idempotent, version-aware)."""
    binding = appointment.binding
    if binding is None or report.tenant_id != appointment.tenant_id:
        return False
    if report.provider != binding.provider or report.connection_id != binding.connection_id:
        return False
    if report.appointment_version > appointment.version:
        return False
    if current is None:
        return True
    if report.appointment_version != current.appointment_version:
        return report.appointment_version > current.appointment_version
    return report.observed_at > current.observed_at


def report_from_event(report: CalendarSyncStatusReported) -> SyncReport:
    return SyncReport(
        provider=report.provider,
        connection_id=report.connection_id,
        appointment_version=report.appointment_version,
        state=report.state,
        reason_code=report.reason_code,
        message=report.message,
        provider_event_ids=dict(report.provider_event_ids),
        drift=report.drift,
        observed_at=report.observed_at,
    )


PROVIDER_LABELS = {Provider.GOOGLE: "Google", Provider.OUTLOOK: "Outlook"}
CONNECTION_PROBLEMS = {
    ConnectionStatus.INACTIVE: "the host has since linked another calendar",
    ConnectionStatus.REAUTH_REQUIRED: "its sign-in has expired or was revoked",
    ConnectionStatus.UNLINKED: "it has been unlinked",
}
_BLOCKED_REASONS = {ConnectionStatus.REAUTH_REQUIRED: SyncFailureReason.REAUTH_REQUIRED}


def is_blocked(appointment: Appointment, connection: ConnectionStatus | None) -> bool:
    """R8: the bound connection cannot be written to, and something still has to reach it
    (a live appointment, or a held cancellation). ``connection`` is ``None`` when unknown."""
    if appointment.binding is None or connection is None or connection is ConnectionStatus.ACTIVE:
        return False
    return (
        appointment.status is not AppointmentStatus.CANCELLED or appointment.held_calendar_change is not None
    )


def blocked_view(appointment: Appointment, connection: ConnectionStatus) -> CalendarSyncView:
    """``blocked``: why (the connection's status) and the fix (link that same calendar again)."""
    binding = appointment.binding
    assert binding is not None
    label = PROVIDER_LABELS[binding.provider]
    problem = CONNECTION_PROBLEMS.get(connection, connection.value)
    calendar = f"the {label} calendar of {binding.account_email}"
    if appointment.held_calendar_change is not None:
        message = (
            f"The appointment is cancelled; removing it from {calendar} is held because that "
            f"connection is no longer usable ({problem}). Link the {label} calendar "
            f"{binding.account_email} again and the cancellation is written there; it is never "
            "sent to another calendar."
        )
    else:
        message = (
            f"Changes cannot reach {calendar}: {problem}. Link the {label} calendar "
            f"{binding.account_email} again to change it or let the guest book; it can still be "
            "cancelled meanwhile."
        )
    return CalendarSyncView(
        state=CalendarSyncState.BLOCKED,
        reason_code=_BLOCKED_REASONS.get(connection, SyncFailureReason.CONNECTION_INACTIVE),
        message=message,
        provider=binding.provider,
        connection_status=connection,
        action=f"relink_{binding.provider.value}",
        appointment_version=appointment.version,
    )


def sync_view(
    appointment: Appointment, report: SyncReport | None, connection: ConnectionStatus | None = None
) -> CalendarSyncView:
    """``not_linked`` without a binding; ``blocked`` while the bound connection is unusable
    (``connection``: its status, ``None`` if unknown); ``pending`` until the connector reported
    on the latest version; otherwise the connector's latest accepted report."""
    binding = appointment.binding
    if binding is None:
        return CalendarSyncView(state=CalendarSyncState.NOT_LINKED)
    if is_blocked(appointment, connection):
        assert connection is not None
        view = blocked_view(appointment, connection)
        return view.model_copy(update={"provider_event_ids": report.provider_event_ids if report else {}})
    if report is None or report.appointment_version < appointment.reported_version():
        return CalendarSyncView(
            state=CalendarSyncState.PENDING,
            provider=binding.provider,
            provider_event_ids=report.provider_event_ids if report else {},
            appointment_version=appointment.reported_version(),
        )
    return CalendarSyncView(
        state=CalendarSyncState(report.state.value),
        reason_code=report.reason_code,
        message=report.message,
        provider=report.provider,
        provider_event_ids=report.provider_event_ids,
        drift=report.drift,
        appointment_version=report.appointment_version,
        observed_at=report.observed_at,
    )
