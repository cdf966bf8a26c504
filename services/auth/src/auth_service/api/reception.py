"""Reception devices (tenant administrators) and the devices' token exchange."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from auth_service.api.deps import PROBLEM_RESPONSES, employee_principal, get_context
from auth_service.api.schemas import (
    ReceptionDeviceIn,
    ReceptionDeviceOut,
    ReceptionDevicesOut,
    ReceptionTokenRequest,
    ReceptionTokenResponse,
    RegisteredDeviceOut,
)
from auth_service.service_layer import reception
from auth_service.service_layer.context import ServiceContext
from visitor_common.security import Principal

router = APIRouter(tags=["reception"], responses=PROBLEM_RESPONSES)
Context = Annotated[ServiceContext, Depends(get_context)]
Admin = Annotated[Principal, Depends(employee_principal)]
DeviceId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/v1/reception-devices", response_model=RegisteredDeviceOut, status_code=201)
async def register(body: ReceptionDeviceIn, ctx: Context, principal: Admin) -> RegisteredDeviceOut:
    """Register a front-desk tablet; the answer holds its ``client_secret``, shown this once."""
    registered = await reception.register_device(ctx, principal, name=body.name)
    out = ReceptionDeviceOut.of(registered.device)
    return RegisteredDeviceOut(**out.model_dump(), client_secret=registered.client_secret)


@router.get("/v1/reception-devices", response_model=ReceptionDevicesOut)
async def list_all(ctx: Context, principal: Admin) -> ReceptionDevicesOut:
    """The tenant's devices, revoked ones included (with ``revoked_at``)."""
    devices = await reception.list_devices(ctx, principal)
    return ReceptionDevicesOut(items=[ReceptionDeviceOut.of(d) for d in devices])


@router.patch("/v1/reception-devices/{device_id}", response_model=ReceptionDeviceOut)
async def rename(
    device_id: DeviceId, body: ReceptionDeviceIn, ctx: Context, principal: Admin
) -> ReceptionDeviceOut:
    return ReceptionDeviceOut.of(await reception.rename_device(ctx, principal, device_id, name=body.name))


@router.delete("/v1/reception-devices/{device_id}", status_code=204)
async def revoke(device_id: DeviceId, ctx: Context, principal: Admin) -> Response:
    """Revoke: the exchange refuses the device at once; its last token expires within
    ``AUTH_RECEPTION_TOKEN_TTL_SECONDS`` (5 minutes by default)."""
    await reception.revoke_device(ctx, principal, device_id)
    return Response(status_code=204)


@router.post(
    "/auth/v1/reception-token",
    response_model=ReceptionTokenResponse,
    responses={429: PROBLEM_RESPONSES[429] | {"description": "Too many failures; see Retry-After"}},
)
async def reception_token(
    body: ReceptionTokenRequest, request: Request, ctx: Context
) -> ReceptionTokenResponse:
    """A device's credential → a short-lived token with role ``reception`` (its tenant, the
    device id as subject, no employee rights)."""
    address = request.client.host if request.client else "unknown"
    token = await reception.exchange(
        ctx, client_id=body.client_id, client_secret=body.client_secret, address=address
    )
    return ReceptionTokenResponse(access_token=token.access_token, expires_in=token.expires_in)
