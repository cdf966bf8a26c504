"""Domain errors: a stable ``code``, a human ``title``, an optional ``detail`` and structured
``context``. They know nothing of HTTP: ``api/problems.py`` maps each type to its status and
problem document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class DomainError(Exception):
    """Base of every refused request. ``context`` holds the machine-readable facts a caller may
    act on (which slot, which connection, the current version)."""

    code = "domain_error"
    title = "The request breaks a rule"

    def __init__(self, detail: str | None = None, **context: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.context = context


@dataclass(frozen=True)
class Violation:
    """One broken scheduling rule: the input ``field`` it concerns (a path such as
    ``("candidates", 2, "start")``), what is wrong, and a stable ``kind``."""

    field: tuple[str | int, ...]
    message: str
    kind: str


class InvalidAppointment(DomainError):
    """Input that is well-formed but breaks a scheduling rule; ``violations`` lists each finding."""

    code = "validation_failed"
    title = "The request is not valid"

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("One or more fields break a scheduling rule; see errors.")
        self.violations = tuple(violations)


class AppointmentNotFound(DomainError):
    code = "appointment_not_found"
    title = "No such appointment"


class PreconditionRequired(DomainError):
    code = "precondition_required"
    title = "If-Match is required"


class PreconditionFailed(DomainError):
    code = "precondition_failed"
    title = "The appointment changed since you read it"


class InvalidState(DomainError):
    code = "invalid_state"
    title = "The appointment is not in a state that allows this"


class SlotUnavailable(DomainError):
    code = "slot_unavailable"
    title = "This slot is no longer available"


class SlotNotFound(DomainError):
    code = "slot_not_found"
    title = "No such candidate slot"


class AlreadyConfirmed(DomainError):
    code = "already_confirmed"
    title = "The appointment has already been confirmed"


class GuestLinkInvalid(DomainError):
    code = "guest_link_invalid"
    title = "This scheduling link is not valid"


class GuestLinkExpired(DomainError):
    code = "guest_link_expired"
    title = "This scheduling link has expired or was withdrawn"


class BoundConnectionUnusable(DomainError):
    """R8: the appointment's bound calendar connection can no longer be written to."""

    code = "bound_connection_unusable"
    title = "The calendar this appointment is bound to can no longer be updated"


class NotLinked(DomainError):
    code = "not_linked"
    title = "The appointment is not bound to a calendar"


class RoomGroupSelectionRequired(DomainError):
    """R4/R5: "any free room" needs a building / room list chosen first."""

    code = "room_group_selection_required"
    title = "Choose a building / room list first"


class HostEmailUnknown(DomainError):
    code = "host_email_unknown"
    title = "The host's e-mail address is unknown"


class DependencyUnavailable(DomainError):
    code = "dependency_unavailable"
    title = "A service this request depends on is unavailable; try again shortly"


class ReceptionCodeExhausted(DomainError):
    code = "reception_code_unavailable"
    title = "No free reception code could be issued; try again"


class ReceptionCodeUnknown(DomainError):
    code = "reception_code_unknown"
    title = "No visit has this reception code"


class OutsideVisitWindow(DomainError):
    """The code is right but the visit is not today: too early, or long over."""

    code = "outside_visit_window"
    title = "This reception code is not valid at this time"
