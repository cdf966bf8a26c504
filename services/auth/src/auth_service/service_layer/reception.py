"""Reception devices: registered by a tenant administrator, exchanging their credential for a
short-lived ``reception`` token (no employee rights) at the front desk."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from auth_service.adapters.passwords import hash_password, verify_password
from auth_service.domain import errors
from auth_service.domain.models import ReceptionDevice, Role
from auth_service.service_layer.context import ServiceContext, utc_now
from visitor_common.persistence import VersionConflictError
from visitor_common.security import Principal, PrincipalKind

RECEPTION_ROLE = "reception"
CLIENT_ID_PREFIX = "rcp_"


@dataclass(frozen=True)
class RegisteredDevice:
    device: ReceptionDevice
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class ReceptionToken:
    access_token: str = field(repr=False)
    expires_in: int


def _admin_tenant(principal: Principal) -> str:
    if principal.role != Role.ADMIN.value or principal.tenant_id is None:
        raise errors.admin_required()
    return principal.tenant_id


async def register_device(ctx: ServiceContext, principal: Principal, *, name: str) -> RegisteredDevice:
    tenant_id = _admin_tenant(principal)
    secret = secrets.token_urlsafe(32)
    now = ctx.clock()
    device = ReceptionDevice(
        tenant_id=tenant_id,
        name=name,
        client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(12),
        secret_hash=hash_password(secret),
        created_by=principal.employee_id,
        created_at=now,
        updated_at=now,
    )
    await ctx.repos.reception_devices.insert(device)
    return RegisteredDevice(device, secret)


async def list_devices(ctx: ServiceContext, principal: Principal) -> list[ReceptionDevice]:
    return await ctx.repos.reception_devices.of_tenant(_admin_tenant(principal))


async def _device(ctx: ServiceContext, principal: Principal, device_id: str) -> ReceptionDevice:
    device = await ctx.repos.reception_devices.in_tenant(_admin_tenant(principal), device_id)
    if device is None:
        raise errors.reception_device_not_found()
    return device


async def rename_device(
    ctx: ServiceContext, principal: Principal, device_id: str, *, name: str
) -> ReceptionDevice:
    device = await _device(ctx, principal, device_id)
    device.rename(name, ctx.clock())
    try:
        await ctx.repos.reception_devices.save(device)
    except VersionConflictError as error:
        raise errors.concurrent_update() from error
    return device


async def revoke_device(ctx: ServiceContext, principal: Principal, device_id: str) -> None:
    """From now on the exchange refuses the device; tokens already issued run out within
    ``reception_token_ttl_seconds`` (they are verified locally by every service)."""
    device = await _device(ctx, principal, device_id)
    if device.revoke(ctx.clock()):
        try:
            await ctx.repos.reception_devices.save(device)
        except VersionConflictError as error:
            raise errors.concurrent_update() from error


async def exchange(
    ctx: ServiceContext, *, client_id: str, client_secret: str, address: str
) -> ReceptionToken:
    """Device credential → reception token; failures are throttled per client id and address."""
    keys = (f"client:{client_id}", f"address:{address}")
    wait = ctx.reception_throttle.retry_after(keys)
    if wait:
        raise errors.too_many_attempts(wait)
    device = await ctx.repos.reception_devices.by_client_id(client_id)
    # Verify even for an unknown client id, so timing does not tell which ids exist.
    matches = verify_password(device.secret_hash if device else None, client_secret)
    if device is None or not matches or device.revoked:
        ctx.reception_throttle.failed(keys)
        raise errors.invalid_device_credentials()
    ctx.reception_throttle.succeeded(keys[0])
    return _reception_token(ctx, device)


def _reception_token(ctx: ServiceContext, device: ReceptionDevice) -> ReceptionToken:
    ttl = ctx.settings.reception_token_ttl_seconds
    claims = {
        "iss": ctx.settings.jwt_issuer,
        "aud": ctx.settings.jwt_audience,
        "sub": device.id,
        "tid": device.tenant_id,
        "role": RECEPTION_ROLE,
        "typ": PrincipalKind.RECEPTION.value,
    }
    token = ctx.signing_key.sign(claims, now=utc_now(), ttl=timedelta(seconds=ttl))
    return ReceptionToken(token, ttl)
