"""Dependencies: the container on ``app.state``, the verified employee, the caller's IP.

All ``async def``: FastAPI runs a plain ``def`` dependency in the thread pool, a hop per request
that these few attribute reads do not need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from appointments_service.adapters.rate_limit import SlidingWindowLimiter
from appointments_service.service_layer.appointments import AppointmentService, Host
from visitor_common.security import JwtVerifier, Principal
from visitor_common.web import principal_dependency, require_employee


@dataclass
class ApiContext:
    service: AppointmentService
    verifier: JwtVerifier
    guest_limiter: SlidingWindowLimiter
    guest_base_url: str


async def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.api
    return context


async def get_verifier(request: Request) -> JwtVerifier:
    return (await get_context(request)).verifier


async def get_service(request: Request) -> AppointmentService:
    return (await get_context(request)).service


_principal = principal_dependency(get_verifier)

# The auth service's tenant-administrator role (the ``role`` claim of the employee's token).
ADMIN_ROLE = "admin"


async def current_host(principal: Annotated[Principal, Depends(_principal)]) -> Host:
    employee = require_employee(principal)
    assert employee.tenant_id is not None
    return Host(
        tenant_id=employee.tenant_id,
        employee_id=employee.employee_id,
        email=employee.email,
        bearer=employee.token,
        is_admin=employee.role == ADMIN_ROLE,
    )


HostDep = Annotated[Host, Depends(current_host)]
ServiceDep = Annotated[AppointmentService, Depends(get_service)]
ContextDep = Annotated[ApiContext, Depends(get_context)]
