"""``POST /internal/v1/calendar-connections/{connection_id}/release-holds`` for the auth
service: release the connection's tentative holds before it revokes the grant (decision 0011).
Needs a service token with scope ``calendar.holds.release``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from calendar_sync.engine.engine import SyncEngine
from calendar_sync.engine.release import release_holds
from visitor_common.contracts.connections import RELEASE_HOLDS_SCOPE, HoldsReleased
from visitor_common.security.jwt import Principal
from visitor_common.web import require_service


def holds_router(engine: SyncEngine, current_principal: Callable[..., Awaitable[Principal]]) -> APIRouter:
    router = APIRouter(prefix="/internal/v1", tags=["internal"])

    async def auth_service(principal: Principal = Depends(current_principal)) -> Principal:
        return require_service(principal, RELEASE_HOLDS_SCOPE)

    @router.post(
        "/calendar-connections/{connection_id}/release-holds",
        response_model=HoldsReleased,
        summary="Delete the tentative holds written for a connection (before it is unlinked)",
        dependencies=[Depends(auth_service)],
    )
    async def release(connection_id: Annotated[str, Path(min_length=1, max_length=64)]) -> HoldsReleased:
        return await release_holds(engine, connection_id)

    return router
