"""Unauthenticated routes: sign-in and refresh for API clients, the JWKS, service tokens, and the
operator's tenant bootstrap (behind X-Operator-Key)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Request

from auth_service.api.deps import PROBLEM_RESPONSES, get_context
from auth_service.api.schemas import (
    EmployeeOut,
    RefreshRequest,
    SignInRequest,
    TenantIn,
    TenantOut,
    TokenResponse,
)
from auth_service.domain import errors
from auth_service.service_layer import accounts
from auth_service.service_layer.context import ServiceContext
from visitor_common.contracts.connections import ServiceToken

router = APIRouter(responses=PROBLEM_RESPONSES)
Context = Annotated[ServiceContext, Depends(get_context)]


@router.get("/.well-known/jwks.json", tags=["sign-in"])
async def jwks(ctx: Context) -> dict[str, Any]:
    return ctx.signing_key.jwks()


@router.post(
    "/auth/v1/sign-in",
    response_model=TokenResponse,
    tags=["sign-in"],
    responses={429: PROBLEM_RESPONSES[429] | {"description": "Too many failures; see Retry-After"}},
)
async def sign_in(body: SignInRequest, request: Request, ctx: Context) -> TokenResponse:
    """E-mail and password → a short-lived access JWT and a refresh token. Repeated failures
    for one account or from one address answer 429 with a growing ``Retry-After``."""
    address = request.client.host if request.client else "unknown"
    pair = await accounts.sign_in(
        ctx, tenant_id=body.tenant_id, email=body.email, password=body.password, address=address
    )
    return TokenResponse(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post("/auth/v1/refresh", response_model=TokenResponse, tags=["sign-in"])
async def refresh(body: RefreshRequest, ctx: Context) -> TokenResponse:
    """Exchange a refresh token (single use) for a new pair."""
    pair = await accounts.refresh_session(ctx, body.refresh_token)
    return TokenResponse(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post("/internal/v1/service-token", response_model=ServiceToken, tags=["internal"])
async def service_token(
    ctx: Context,
    grant_type: Annotated[str, Form(max_length=64)],
    client_id: Annotated[str, Form(max_length=200)],
    client_secret: Annotated[str, Form(max_length=500)],
) -> ServiceToken:
    """OAuth 2.0 client-credentials style token for internal callers."""
    return accounts.service_token(
        ctx, grant_type=grant_type, client_id=client_id, client_secret=client_secret
    )


def _operator(ctx: Context, x_operator_key: Annotated[str | None, Header(max_length=500)] = None) -> None:
    configured = ctx.settings.operator_key
    if configured is None or x_operator_key is None:
        raise errors.operator_key_invalid()
    if not hmac.compare_digest(configured.get_secret_value().encode(), x_operator_key.encode()):
        raise errors.operator_key_invalid()


@router.post(
    "/operator/v1/tenants",
    response_model=TenantOut,
    status_code=201,
    tags=["operator"],
    dependencies=[Depends(_operator)],
)
async def create_tenant(body: TenantIn, ctx: Context) -> TenantOut:
    """Bootstrap a tenant and its first administrator."""
    tenant, admin = await accounts.create_tenant(
        ctx,
        name=body.name,
        admin_name=body.admin_name,
        admin_email=body.admin_email,
        admin_password=body.admin_password,
        tenant_id=body.tenant_id,
    )
    return TenantOut(tenant_id=tenant.id, name=tenant.name, admin=EmployeeOut.of(admin))
