"""Host routes (JWT required): create, read, change, cancel, restore, guest link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response, status

from appointments_service.api.deps import ContextDep, HostDep, ServiceDep
from appointments_service.api.problems import PROBLEM_RESPONSES
from appointments_service.api.schemas import (
    AppointmentListOut,
    AppointmentOut,
    CancelIn,
    CreateAppointmentIn,
    CreatedAppointmentOut,
    GuestLinkIssuedOut,
    RescheduleIn,
    UpdateDetailsIn,
)
from appointments_service.domain import rules
from appointments_service.domain.model import Appointment
from appointments_service.service_layer.appointments import (
    AppointmentService,
    DetailsChange,
    NewAppointment,
)

router = APIRouter(prefix="/v1/appointments", tags=["appointments"], responses=PROBLEM_RESPONSES)

AppointmentId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match", max_length=100, description='The ETag you read, e.g. "3". Required for changes.'
    ),
]


async def _out(service: AppointmentService, appointment: Appointment, response: Response) -> AppointmentOut:
    sync = await service.sync_view(appointment)
    response.headers["ETag"] = rules.etag(appointment.version)
    return AppointmentOut.build(appointment, sync)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CreatedAppointmentOut)
async def create_appointment(
    body: CreateAppointmentIn, host: HostDep, context: ContextDep, response: Response
) -> CreatedAppointmentOut:
    """Propose 1–10 candidate slots to the guests; availability is checked per slot."""
    request = NewAppointment(
        title=body.title,
        guests=[g.to_guest() for g in body.guests],
        duration_minutes=body.duration_minutes,
        candidates=[c.to_draft() for c in body.candidates],
        notes=body.notes or None,
        hold_candidates=body.hold_candidates,
        any_free_room=body.any_free_room,
    )
    created = await context.service.create(host, request)
    out = await _out(context.service, created.appointment, response)
    response.headers["Location"] = f"/v1/appointments/{created.appointment.appointment_id}"
    return CreatedAppointmentOut(
        **out.model_dump(),
        guest_token=created.guest_token,
        guest_url=rules.guest_url(context.guest_base_url, created.guest_token),
    )


@router.get("", response_model=AppointmentListOut)
async def list_appointments(host: HostDep, service: ServiceDep) -> AppointmentListOut:
    """The caller's own appointments, newest first (at most 100)."""
    found = await service.list_for_host(host)
    return AppointmentListOut(items=[AppointmentOut.build(a, s) for a, s in found])


@router.get("/{appointment_id}", response_model=AppointmentOut)
async def get_appointment(
    appointment_id: AppointmentId, host: HostDep, service: ServiceDep, response: Response
) -> AppointmentOut:
    """The host's appointment (a tenant administrator may read any of the tenant's)."""
    appointment, sync = await service.get(host, appointment_id)
    response.headers["ETag"] = rules.etag(appointment.version)
    return AppointmentOut.build(appointment, sync)


@router.patch("/{appointment_id}", response_model=AppointmentOut)
async def update_details(
    appointment_id: AppointmentId,
    body: UpdateDetailsIn,
    host: HostDep,
    service: ServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> AppointmentOut:
    """Change title, notes, guests or the hold flag (If-Match required)."""
    change = DetailsChange(
        title=body.title,
        notes=body.notes or None,
        clear_notes=body.notes == "",
        guests=[g.to_guest() for g in body.guests] if body.guests is not None else None,
        hold_candidates=body.hold_candidates,
    )
    appointment = await service.update_details(host, appointment_id, if_match, change)
    return await _out(service, appointment, response)


@router.post("/{appointment_id}/reschedule", response_model=AppointmentOut)
async def reschedule(
    appointment_id: AppointmentId,
    body: RescheduleIn,
    host: HostDep,
    service: ServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> AppointmentOut:
    """Replace the candidates (proposed) or move the confirmed slot (exactly one slot)."""
    drafts = [c.to_draft() for c in body.candidates]
    appointment = await service.reschedule(host, appointment_id, if_match, drafts, body.any_free_room)
    return await _out(service, appointment, response)


@router.post("/{appointment_id}/cancel", response_model=AppointmentOut)
async def cancel(
    appointment_id: AppointmentId,
    host: HostDep,
    service: ServiceDep,
    response: Response,
    body: CancelIn | None = None,
    if_match: IfMatch = None,
) -> AppointmentOut:
    """Cancel for good (the host, or a tenant administrator)."""
    appointment = await service.cancel(host, appointment_id, if_match, body.reason if body else None)
    return await _out(service, appointment, response)


@router.post(
    "/{appointment_id}/calendar-restore", status_code=status.HTTP_202_ACCEPTED, response_model=AppointmentOut
)
async def calendar_restore(
    appointment_id: AppointmentId,
    host: HostDep,
    service: ServiceDep,
    response: Response,
    if_match: Annotated[str | None, Header(alias="If-Match", max_length=100)] = None,
) -> AppointmentOut:
    """R9: write the system's version back over events edited or deleted in the calendar."""
    appointment = await service.request_restore(host, appointment_id, if_match)
    return await _out(service, appointment, response)


@router.post(
    "/{appointment_id}/guest-link", status_code=status.HTTP_201_CREATED, response_model=GuestLinkIssuedOut
)
async def reissue_guest_link(
    appointment_id: AppointmentId,
    host: HostDep,
    context: ContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> GuestLinkIssuedOut:
    """Withdraw the current guest link and issue a new one."""
    issued = await context.service.reissue_guest_link(host, appointment_id, if_match)
    link = issued.appointment.guest_link
    assert link is not None
    response.headers["ETag"] = rules.etag(issued.appointment.version)
    return GuestLinkIssuedOut(
        appointment_id=appointment_id,
        version=issued.appointment.version,
        guest_token=issued.guest_token,
        guest_url=rules.guest_url(context.guest_base_url, issued.guest_token),
        expires_at=link.expires_at,
    )


@router.delete("/{appointment_id}/guest-link", response_model=AppointmentOut)
async def revoke_guest_link(
    appointment_id: AppointmentId,
    host: HostDep,
    service: ServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> AppointmentOut:
    appointment = await service.revoke_guest_link(host, appointment_id, if_match)
    return await _out(service, appointment, response)
