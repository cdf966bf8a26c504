"""Who may read and change an appointment (docs/decisions/0010-appointment-ownership.md).

An appointment belongs to its host. A tenant administrator may read every appointment of the
tenant and cancel one (an employee has left, a visit must be called off); nobody else sees it.
A refusal is indistinguishable from a missing appointment (404), exactly as for another
tenant's, so probing ids reveals nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from appointments_service.domain.errors import AppointmentNotFound
from appointments_service.domain.model import Appointment


class Action(StrEnum):
    READ = "read"
    CHANGE = "change"  # details, reschedule, calendar restore, guest link: the host's own calendar
    CANCEL = "cancel"


ADMIN_ACTIONS = frozenset({Action.READ, Action.CANCEL})


@dataclass(frozen=True)
class Caller:
    """The verified employee asking; ``is_admin`` is the tenant administrator role."""

    tenant_id: str
    employee_id: str
    is_admin: bool = False


def permits(appointment: Appointment, caller: Caller, action: Action) -> bool:
    if appointment.tenant_id != caller.tenant_id:
        return False
    if appointment.host_employee_id == caller.employee_id:
        return True
    return caller.is_admin and action in ADMIN_ACTIONS


def require(appointment: Appointment, caller: Caller, action: Action) -> None:
    """Raise ``AppointmentNotFound`` unless ``caller`` may do ``action`` on ``appointment``."""
    if not permits(appointment, caller, action):
        raise AppointmentNotFound()
