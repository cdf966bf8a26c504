"""Internal API for the connectors, behind a service credential
(``visitor_common.contracts.connections``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from auth_service.api.deps import PROBLEM_RESPONSES, get_context, service_principal
from auth_service.api.schemas import connection_info
from auth_service.domain import errors
from auth_service.service_layer import connections
from auth_service.service_layer.context import ServiceContext
from visitor_common.contracts.connections import AccessTokenGrant, ConnectionInfo

router = APIRouter(
    prefix="/internal/v1",
    tags=["internal"],
    responses=PROBLEM_RESPONSES,
    dependencies=[Depends(service_principal)],
)
Context = Annotated[ServiceContext, Depends(get_context)]
Id = Annotated[str, Path(max_length=64)]


@router.get("/tenants/{tenant_id}/employees/{employee_id}/calendar-connection", response_model=ConnectionInfo)
async def employee_connection(tenant_id: Id, employee_id: Id, ctx: Context) -> ConnectionInfo:
    connection = await ctx.repos.connections.active_for(tenant_id, employee_id)
    if connection is None:
        raise errors.no_active_connection()
    return connection_info(connection)


@router.get("/calendar-connections/{connection_id}", response_model=ConnectionInfo)
async def connection_by_id(connection_id: Id, ctx: Context) -> ConnectionInfo:
    return connection_info(await connections.by_id(ctx, connection_id))


@router.post("/calendar-connections/{connection_id}/access-token", response_model=AccessTokenGrant)
async def fresh_access_token(
    connection_id: Id, ctx: Context, force_refresh: bool = False
) -> AccessTokenGrant:
    """A provider access token valid for at least the refresh margin; 409 when unusable.
    ``force_refresh=true``: the provider rejected the last one, refresh it rather than reuse it."""
    connection, token = await connections.access_token(ctx, connection_id, force_refresh=force_refresh)
    return AccessTokenGrant(
        connection_id=connection.id,
        provider=connection.provider,
        access_token=token.token,
        expires_at=token.expires_at,
    )
