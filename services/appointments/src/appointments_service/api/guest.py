"""Public guest routes (no JWT; the unguessable token is the credential), rate-limited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from appointments_service.api.deps import ContextDep, ServiceDep
from appointments_service.api.problems import PROBLEM_RESPONSES, RateLimited
from appointments_service.api.schemas import GuestAppointmentOut, PickIn, PickOut, guest_slot, host_shown
from appointments_service.domain.rules import hash_guest_token
from visitor_common.events import AppointmentStatus

GuestToken = Annotated[str, Path(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")]

_GUEST_RESPONSES = {k: v for k, v in PROBLEM_RESPONSES.items() if k in {404, 409, 422, 503}} | {
    410: {**PROBLEM_RESPONSES[404], "description": "The link expired or was withdrawn"},
    429: {**PROBLEM_RESPONSES[404], "description": "Too many requests for this link or address"},
}


async def rate_limited(request: Request, context: ContextDep, token: GuestToken) -> None:
    """Per token and per client IP; the token is hashed so the limiter never holds it."""
    ip = request.client.host if request.client else "unknown"
    for key in (f"token:{hash_guest_token(token)}", f"ip:{ip}"):
        wait = context.guest_limiter.hit(key)
        if wait > 0:
            raise RateLimited("Please wait a moment before trying again.", retry_after=max(1, round(wait)))


router = APIRouter(
    prefix="/v1/guest/appointments",
    tags=["guest"],
    responses=_GUEST_RESPONSES,
    dependencies=[Depends(rate_limited)],
)


@router.get("/{token}", response_model=GuestAppointmentOut)
async def guest_view(token: GuestToken, service: ServiceDep) -> GuestAppointmentOut:
    """The appointment as the guest sees it, with the candidates still available."""
    view = await service.guest_view(token)
    appointment = view.appointment
    link = appointment.guest_link
    assert link is not None
    confirmed = appointment.confirmed_slot()
    # Once confirmed, the page shows the code again on reopening, in any browser: the link's
    # holder is the guest it was mailed to (the code is in their confirmation mail too).
    reception = appointment.reception if appointment.status is AppointmentStatus.CONFIRMED else None
    return GuestAppointmentOut(
        title=appointment.title,
        duration_minutes=appointment.duration_minutes,
        status=appointment.status,
        candidates=[guest_slot(c) for c in view.candidates],
        confirmed_slot=guest_slot(confirmed) if confirmed else None,
        expires_at=link.expires_at,
        bookable=view.bookable,
        notice=view.notice,
        reception_code=reception.code if reception is not None else None,
        host_name=host_shown(appointment) if reception is not None else None,
    )


@router.post("/{token}/pick", response_model=PickOut)
async def pick(token: GuestToken, body: PickIn, service: ServiceDep) -> PickOut:
    """Confirm one candidate; the reception code is in the answer. Picking the confirmed slot
    again answers the same confirmation and code; another slot after confirmation gets 409."""
    picked = await service.pick(token, body.slot_id)
    slot = picked.appointment.confirmed_slot()
    assert slot is not None
    return PickOut(
        status=picked.appointment.status,
        confirmed_slot=guest_slot(slot),
        reception_code=picked.reception_code,
    )
