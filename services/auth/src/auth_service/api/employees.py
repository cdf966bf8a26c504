"""Employees of the caller's tenant (registration by a tenant administrator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from auth_service.api.deps import PROBLEM_RESPONSES, employee_principal, get_context
from auth_service.api.schemas import EmployeeIn, EmployeeOut
from auth_service.service_layer import accounts
from auth_service.service_layer.context import ServiceContext
from visitor_common.security import Principal

router = APIRouter(prefix="/v1", tags=["employees"], responses=PROBLEM_RESPONSES)
Context = Annotated[ServiceContext, Depends(get_context)]
Employee = Annotated[Principal, Depends(employee_principal)]


def _tenant(principal: Principal) -> str:
    assert principal.tenant_id is not None
    return principal.tenant_id


@router.post("/employees", response_model=EmployeeOut, status_code=201)
async def register(body: EmployeeIn, ctx: Context, principal: Employee) -> EmployeeOut:
    employee = await accounts.register_employee(
        ctx, principal, name=body.name, email=body.email, role=body.role, password=body.password
    )
    return EmployeeOut.of(employee)


@router.get("/employees", response_model=list[EmployeeOut])
async def list_all(ctx: Context, principal: Employee) -> list[EmployeeOut]:
    return [EmployeeOut.of(e) for e in await accounts.list_employees(ctx, _tenant(principal))]


@router.get("/employees/{employee_id}", response_model=EmployeeOut)
async def get_one(
    employee_id: Annotated[str, Path(max_length=64)], ctx: Context, principal: Employee
) -> EmployeeOut:
    return EmployeeOut.of(await accounts.get_employee(ctx, _tenant(principal), employee_id))


@router.get("/me", response_model=EmployeeOut)
async def me(ctx: Context, principal: Employee) -> EmployeeOut:
    return EmployeeOut.of(await accounts.get_employee(ctx, _tenant(principal), principal.employee_id))
