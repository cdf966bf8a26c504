"""Domain errors. The API maps each to a problem document with the same ``code``."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every rule violation; ``status`` is the HTTP status the API answers with."""

    status = 400
    code = "domain_error"
    title = "The request breaks a rule"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = extra


class InvalidAppointment(DomainError):
    """Input that is well-formed but breaks a scheduling rule; ``errors`` lists each finding."""

    status = 422
    code = "validation_failed"
    title = "The request is not valid"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("One or more fields break a scheduling rule; see errors.", errors=errors)
        self.errors = errors


class AppointmentNotFound(DomainError):
    status = 404
    code = "appointment_not_found"
    title = "No such appointment"


class PreconditionRequired(DomainError):
    status = 428
    code = "precondition_required"
    title = "If-Match is required"


class PreconditionFailed(DomainError):
    status = 412
    code = "precondition_failed"
    title = "The appointment changed since you read it"


class InvalidState(DomainError):
    status = 409
    code = "invalid_state"
    title = "The appointment is not in a state that allows this"


class SlotUnavailable(DomainError):
    status = 409
    code = "slot_unavailable"
    title = "This slot is no longer available"


class SlotNotFound(DomainError):
    status = 404
    code = "slot_not_found"
    title = "No such candidate slot"


class AlreadyConfirmed(DomainError):
    status = 409
    code = "already_confirmed"
    title = "The appointment has already been confirmed"


class GuestLinkInvalid(DomainError):
    status = 404
    code = "guest_link_invalid"
    title = "This scheduling link is not valid"


class GuestLinkExpired(DomainError):
    status = 410
    code = "guest_link_expired"
    title = "This scheduling link has expired or was withdrawn"


class BoundConnectionUnusable(DomainError):
    """R8: the appointment's bound calendar connection can no longer be written to."""

    status = 409
    code = "bound_connection_unusable"
    title = "The calendar this appointment is bound to can no longer be updated"


class NotLinked(DomainError):
    status = 409
    code = "not_linked"
    title = "The appointment is not bound to a calendar"


class RoomGroupSelectionRequired(DomainError):
    """R4/R5: "any free room" needs a building / room list chosen first."""

    status = 409
    code = "room_group_selection_required"
    title = "Choose a building / room list first"


class HostEmailUnknown(DomainError):
    status = 422
    code = "host_email_unknown"
    title = "The host's e-mail address is unknown"


class DependencyUnavailable(DomainError):
    status = 503
    code = "dependency_unavailable"
    title = "A service this request depends on is unavailable; try again shortly"


class ReceptionCodeExhausted(DomainError):
    status = 503
    code = "reception_code_unavailable"
    title = "No free reception code could be issued; try again"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"
