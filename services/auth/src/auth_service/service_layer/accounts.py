"""Tenants, employees, API sign-in (access JWT + rotating refresh token) and service tokens."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from auth_service.adapters.passwords import hash_password, verify_password
from auth_service.domain import errors
from auth_service.domain.models import Employee, RefreshSession, Role, Tenant, new_id, normalize_email
from auth_service.service_layer.context import ServiceContext, utc_now
from visitor_common.contracts.connections import ServiceToken
from visitor_common.persistence import DuplicateKeyError, VersionConflictError
from visitor_common.security import Principal, PrincipalKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPair:
    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)


def token_hash(token: str) -> str:
    """Opaque secrets (refresh tokens, OAuth states) are stored only as their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def _employee(
    tenant_id: str, name: str, email: str, role: Role, password: str | None, ctx: ServiceContext
) -> Employee:
    return Employee(
        tenant_id=tenant_id,
        name=name,
        email=email.strip(),
        email_key=normalize_email(email),
        role=role,
        password_hash=hash_password(password) if password else None,
        created_at=ctx.clock(),
    )


async def create_tenant(
    ctx: ServiceContext,
    *,
    name: str,
    admin_name: str,
    admin_email: str,
    admin_password: str,
    tenant_id: str | None = None,
) -> tuple[Tenant, Employee]:
    """Bootstrap a tenant with its first administrator (operator route)."""
    tenant = Tenant(_id=tenant_id or new_id(), name=name, created_at=ctx.clock())
    try:
        await ctx.repos.tenants.insert(tenant)
    except DuplicateKeyError as error:
        raise errors.tenant_exists() from error
    admin = _employee(tenant.id, admin_name, admin_email, Role.ADMIN, admin_password, ctx)
    await ctx.repos.employees.add(admin)
    return tenant, admin


async def register_employee(
    ctx: ServiceContext,
    principal: Principal,
    *,
    name: str,
    email: str,
    role: Role,
    password: str | None,
) -> Employee:
    if principal.role != Role.ADMIN.value:
        raise errors.admin_required()
    assert principal.tenant_id is not None
    employee = _employee(principal.tenant_id, name, email, role, password, ctx)
    await ctx.repos.employees.add(employee)
    return employee


async def list_employees(ctx: ServiceContext, tenant_id: str) -> list[Employee]:
    return await ctx.repos.employees.find({"tenant_id": tenant_id}, sort="created_at")


async def get_employee(ctx: ServiceContext, tenant_id: str, employee_id: str) -> Employee:
    employee = await ctx.repos.employees.in_tenant(tenant_id, employee_id)
    if employee is None:
        raise errors.employee_not_found()
    return employee


# JWTs are signed on the wall clock, not ``ctx.clock``: every service verifies them against its own.


def _access_token(ctx: ServiceContext, employee: Employee) -> str:
    claims = {
        "iss": ctx.settings.jwt_issuer,
        "aud": ctx.settings.jwt_audience,
        "sub": employee.id,
        "tid": employee.tenant_id,
        "role": employee.role.value,
        "email": employee.email,
        "typ": PrincipalKind.EMPLOYEE.value,
    }
    return ctx.signing_key.sign(
        claims, now=utc_now(), ttl=timedelta(seconds=ctx.settings.access_token_ttl_seconds)
    )


async def _issue_pair(ctx: ServiceContext, employee: Employee, *, family: str | None = None) -> TokenPair:
    """A new access token and refresh token; ``family`` continues a rotation, None starts one."""
    refresh = secrets.token_urlsafe(48)
    now = ctx.clock()
    session_id = token_hash(refresh)
    session = RefreshSession(
        _id=session_id,
        tenant_id=employee.tenant_id,
        employee_id=employee.id,
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.refresh_token_ttl_seconds),
        family_id=family or session_id,
    )
    await ctx.repos.refresh_sessions.insert(session)
    return TokenPair(
        access_token=_access_token(ctx, employee),
        expires_in=ctx.settings.access_token_ttl_seconds,
        refresh_token=refresh,
    )


async def sign_in(
    ctx: ServiceContext, *, tenant_id: str, email: str, password: str, address: str
) -> TokenPair:
    """Failures are throttled per account and per client address. The account key is what was
    typed, registered or not, and a lockout refuses before anything is looked up: an unknown
    account gets the same answers after the same number of tries, so neither reveals who exists."""
    email_key = normalize_email(email)
    account = f"{tenant_id}\x00{email_key}"
    wait = ctx.sign_in_throttle.retry_after(account, address)
    if wait:
        raise errors.too_many_attempts(wait)
    employee = await ctx.repos.employees.by_email(tenant_id, email_key)
    # Verify even for an unknown e-mail, so timing does not reveal who is registered.
    if not verify_password(employee.password_hash if employee else None, password) or employee is None:
        ctx.sign_in_throttle.failed(account, address)
        raise errors.invalid_credentials()
    ctx.sign_in_throttle.succeeded(account)
    return await _issue_pair(ctx, employee)


async def refresh_session(ctx: ServiceContext, refresh_token: str) -> TokenPair:
    """Rotate: a refresh token works once; the answer carries its successor. Presenting a used
    token again (or two requests racing with one) revokes its whole family (reuse detection)."""
    session = await ctx.repos.refresh_sessions.get(token_hash(refresh_token))
    now = ctx.clock()
    if session is None:
        raise errors.invalid_refresh_token()
    if session.used_at is not None and session.revoked_at is None:
        await _revoke_family(ctx, session)
    if not session.usable(now):
        raise errors.invalid_refresh_token()
    session.used_at = now
    try:
        await ctx.repos.refresh_sessions.save(session)
    except VersionConflictError as error:  # used at the same moment by another request: a reuse
        await _revoke_family(ctx, session)
        raise errors.invalid_refresh_token() from error
    employee = await ctx.repos.employees.in_tenant(session.tenant_id, session.employee_id)
    if employee is None:
        raise errors.invalid_refresh_token()
    return await _issue_pair(ctx, employee, family=session.family)


async def _revoke_family(ctx: ServiceContext, reused: RefreshSession) -> None:
    """Revoke every session rotated from the same sign-in, the unused successor included."""
    repo = ctx.repos.refresh_sessions
    log.warning(
        "refresh token reused: revoking its family",
        extra={"tenant_id": reused.tenant_id, "employee_id": reused.employee_id},
    )
    members = await repo.find({"family_id": reused.family})
    if reused.family_id is None:  # stored before families: it is a family of its own
        members.append(reused)
    for member in members:
        for _ in range(5):
            if not member.revoke(ctx.clock()):
                break
            try:
                await repo.save(member)
                break
            except VersionConflictError:
                latest = await repo.get(member.id)
                if latest is None:
                    break
                member = latest


def service_token(
    ctx: ServiceContext, *, grant_type: str, client_id: str, client_secret: str
) -> ServiceToken:
    if grant_type != "client_credentials":
        raise errors.unsupported_grant_type()
    client = ctx.settings.service_clients.get(client_id)
    expected = client.secret.get_secret_value() if client else secrets.token_urlsafe(16)
    if not hmac.compare_digest(expected.encode(), client_secret.encode()) or client is None:
        raise errors.invalid_client()
    ttl = ctx.settings.service_token_ttl_seconds
    scope = " ".join(client.scopes)
    claims = {
        "iss": ctx.settings.jwt_issuer,
        "aud": ctx.settings.jwt_audience,
        "sub": client_id,
        "typ": PrincipalKind.SERVICE.value,
        "scope": scope,
    }
    token = ctx.signing_key.sign(claims, now=utc_now(), ttl=timedelta(seconds=ttl))
    return ServiceToken(access_token=token, expires_in=ttl, scope=scope)


def own_service_token(ctx: ServiceContext, scope: str) -> str:
    """A short-lived service token the auth service signs for its own calls to other services."""
    claims = {
        "iss": ctx.settings.jwt_issuer,
        "aud": ctx.settings.jwt_audience,
        "sub": ctx.settings.service_name,
        "typ": PrincipalKind.SERVICE.value,
        "scope": scope,
    }
    return ctx.signing_key.sign(claims, now=utc_now(), ttl=timedelta(seconds=60))
