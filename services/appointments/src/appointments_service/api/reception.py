"""Reception routes (a reception device's token): check a guest in by the reception code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from appointments_service.adapters.guess_limit import GuessLimiter
from appointments_service.api.deps import ServiceDep, get_verifier
from appointments_service.api.problems import PROBLEM_RESPONSES, RateLimited
from appointments_service.api.schemas import host_shown
from appointments_service.domain.errors import ReceptionCodeUnknown
from appointments_service.service_layer.appointments import Desk
from visitor_common import metrics
from visitor_common.events import Guest
from visitor_common.security import Principal
from visitor_common.web import principal_dependency, require_reception


@dataclass
class ReceptionContext:
    """Wrong-code lockouts, one limiter per device and one per tenant."""

    per_device: GuessLimiter
    per_tenant: GuessLimiter


def get_reception_context(request: Request) -> ReceptionContext:
    context: ReceptionContext = request.app.state.reception
    return context


_principal = principal_dependency(get_verifier)


async def current_desk(principal: Annotated[Principal, Depends(_principal)]) -> Desk:
    device = require_reception(principal)
    assert device.tenant_id is not None
    return Desk(tenant_id=device.tenant_id, device_id=device.device_id)


DeskDep = Annotated[Desk, Depends(current_desk)]
ReceptionContextDep = Annotated[ReceptionContext, Depends(get_reception_context)]


class CheckInIn(BaseModel):
    reception_code: str = Field(pattern=r"^\d{6}$", description="The six digits the guest types.")


class CheckInSlotOut(BaseModel):
    start: datetime
    end: datetime
    room_name: str | None = None


class CheckInOut(BaseModel):
    appointment_id: str
    title: str
    host_name: str = Field(
        description="The host as named to the guest (the name when known, else the address)."
    )
    host_email: str
    guests: list[Guest]
    slot: CheckInSlotOut
    checked_in_at: datetime


_RESPONSES = {k: v for k, v in PROBLEM_RESPONSES.items() if k in {401, 404, 409, 422}} | {
    403: {**PROBLEM_RESPONSES[403], "description": "Not a reception device's token"},
    429: {**PROBLEM_RESPONSES[404], "description": "Too many wrong codes: wait Retry-After seconds"},
}

router = APIRouter(prefix="/v1/reception", tags=["reception"], responses=_RESPONSES)


def _keys(desk: Desk) -> tuple[str, str]:
    return f"device:{desk.tenant_id}/{desk.device_id}", f"tenant:{desk.tenant_id}"


def _refuse_while_locked(desk: Desk, limits: ReceptionContext) -> None:
    device_key, tenant_key = _keys(desk)
    wait = max(limits.per_device.wait(device_key), limits.per_tenant.wait(tenant_key))
    if wait > 0:
        metrics.checkin("locked")
        raise RateLimited(
            "Too many wrong codes; please wait before trying again.", retry_after=max(1, round(wait))
        )


@router.post("/check-ins", response_model=CheckInOut)
async def check_in(
    body: CheckInIn, desk: DeskDep, service: ServiceDep, limits: ReceptionContextDep
) -> CheckInOut:
    """Check the guest in by the code they type. Again → the same check-in; a wrong code → 404
    (and, after a few, 429 with ``Retry-After``, longer each time); outside the visit window →
    409 ``outside_visit_window``."""
    _refuse_while_locked(desk, limits)
    device_key, tenant_key = _keys(desk)
    try:
        done = await service.check_in(desk, body.reception_code)
    except ReceptionCodeUnknown:
        metrics.checkin("unknown_code")
        limits.per_device.missed(device_key)
        limits.per_tenant.missed(tenant_key)
        raise
    limits.per_device.succeeded(device_key)
    appointment, slot = done.appointment, done.appointment.confirmed_slot()
    assert slot is not None
    return CheckInOut(
        appointment_id=appointment.appointment_id,
        title=appointment.title,
        host_name=host_shown(appointment),
        host_email=appointment.host_email,
        guests=list(appointment.guests),
        slot=CheckInSlotOut(start=slot.start, end=slot.end, room_name=slot.room.name if slot.room else None),
        checked_in_at=done.check_in.checked_in_at,
    )
