"""Host route: the appointment's calendar-sync state, answered at once or when it changes
(long poll), for the host console and load tests — no polling loop needed to see ``synced``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from appointments_service.api.appointments import AppointmentId
from appointments_service.api.deps import HostDep, ServiceDep
from appointments_service.api.problems import PROBLEM_RESPONSES
from appointments_service.domain import rules
from appointments_service.domain.model import CalendarSyncView

router = APIRouter(prefix="/v1/appointments", tags=["appointments"], responses=PROBLEM_RESPONSES)

MAX_WAIT_SECONDS = 30.0


class SyncStateOut(BaseModel):
    appointment_id: str
    appointment_version: int = Field(description="The appointment's version when this was answered.")
    revision: int = Field(
        description="Counter of the sync state's changes (0: no connector report yet); pass it as "
        "`after_revision` to wait for the next change."
    )
    calendar_sync: CalendarSyncView


@router.get("/{appointment_id}/sync", response_model=SyncStateOut)
async def sync_state(
    appointment_id: AppointmentId,
    host: HostDep,
    service: ServiceDep,
    response: Response,
    after_revision: Annotated[
        int, Query(ge=0, description="Answer only once the revision is past this one.")
    ] = 0,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for that; then answer as it is."),
    ] = 0.0,
) -> SyncStateOut:
    """The calendar-sync state; with `wait`, held open until it changes past `after_revision`."""
    appointment, sync, revision = await service.watch_sync(host, appointment_id, after_revision, wait)
    response.headers["ETag"] = rules.etag(appointment.version)
    return SyncStateOut(
        appointment_id=appointment_id,
        appointment_version=appointment.version,
        revision=revision,
        calendar_sync=sync,
    )
