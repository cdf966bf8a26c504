"""The employee's calendar connection (show, unlink, room preference) and the internal token API."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from auth_service.adapters.crypto import TokenCipherError
from auth_service.adapters.providers import InvalidGrant, ProviderAccessToken
from auth_service.domain import errors
from auth_service.domain.models import CalendarConnection
from auth_service.service_layer import events
from auth_service.service_layer.context import CachedAccessToken, ServiceContext
from visitor_common import metrics
from visitor_common.contracts.connections import HoldsReleased
from visitor_common.events import ConnectionStatus
from visitor_common.persistence import VersionConflictError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnlinkOutcome:
    connection: CalendarConnection
    revoked_at_provider: bool
    holds: HoldsReleased | None = None


async def current(ctx: ServiceContext, tenant_id: str, employee_id: str) -> CalendarConnection:
    connection = await ctx.repos.connections.current_for(tenant_id, employee_id)
    if connection is None:
        raise errors.no_active_connection()
    return connection


async def history(ctx: ServiceContext, tenant_id: str, employee_id: str) -> list[CalendarConnection]:
    return await ctx.repos.connections.of_employee(tenant_id, employee_id)


async def unlink(ctx: ServiceContext, tenant_id: str, employee_id: str) -> UnlinkOutcome:
    """Release the holds first, while the grant still works (the connector deletes the tentative
    events it wrote, decision 0011), then revoke the grant and forget the refresh token. A
    connector that does not answer in time does not stop the unlink: the holds then stay."""
    connection = await current(ctx, tenant_id, employee_id)
    holds = None
    if connection.status is ConnectionStatus.ACTIVE:
        holds = await ctx.holds.release_holds(connection.provider, connection.id)
    revoked = False
    if connection.refresh_token is not None:
        try:
            refresh_token = ctx.cipher.open(connection.refresh_token, context=connection.id)
        except TokenCipherError:
            log.warning(
                "refresh token does not decrypt; unlinking locally", extra={"connection_id": connection.id}
            )
        else:
            revoked = await ctx.providers[connection.provider].revoke(refresh_token)
    connection.unlink(ctx.clock())
    ctx.access_tokens.forget(connection.id)
    try:
        await ctx.repos.connections.save(connection, [events.unlinked(connection, ctx.source)])
    except VersionConflictError as error:
        raise errors.concurrent_update() from error
    ctx.notify_outbox()
    return UnlinkOutcome(connection=connection, revoked_at_provider=revoked, holds=holds)


async def set_room_preference(
    ctx: ServiceContext, tenant_id: str, employee_id: str, room_group_id: str
) -> CalendarConnection:
    connection = await current(ctx, tenant_id, employee_id)
    connection.choose_room_group(room_group_id, ctx.clock())
    try:
        await ctx.repos.connections.save(connection, [events.room_preference_changed(connection, ctx.source)])
    except VersionConflictError as error:
        raise errors.concurrent_update() from error
    ctx.notify_outbox()
    return connection


# --- internal API --------------------------------------------------------------------------------


async def by_id(ctx: ServiceContext, connection_id: str) -> CalendarConnection:
    connection = await ctx.repos.connections.get(connection_id)
    if connection is None:
        raise errors.connection_not_found()
    return connection


def _fresh(ctx: ServiceContext, token: ProviderAccessToken | None) -> bool:
    margin = timedelta(seconds=ctx.settings.access_token_refresh_margin_seconds)
    return token is not None and token.expires_at - margin > ctx.clock()


async def access_token(
    ctx: ServiceContext, connection_id: str, *, force_refresh: bool = False
) -> tuple[CalendarConnection, CachedAccessToken]:
    """A fresh provider access token; concurrent callers for one connection share one refresh.

    ``force_refresh``: the caller's token was rejected by the provider before its expiry (it was
    revoked or expired early), so the cached one is not handed out again; a token another
    caller refreshed meanwhile is."""
    connection = await by_id(ctx, connection_id)
    connection.ensure_usable()
    before = ctx.access_tokens.tokens.get(connection_id)
    if not force_refresh and _fresh(ctx, before):
        assert before is not None
        return connection, before
    async with ctx.access_tokens.lock(connection_id):
        cached = ctx.access_tokens.tokens.get(connection_id)
        replaced = cached is not None and cached is not before
        if _fresh(ctx, cached) and (not force_refresh or replaced):
            assert cached is not None
            return connection, cached
        connection = await by_id(ctx, connection_id)  # re-read: it may have changed meanwhile
        connection.ensure_usable()
        try:
            token = await _refresh(ctx, connection)
        except Exception:
            metrics.token_refresh("auth", "failed")
            raise
        metrics.token_refresh("auth", "refreshed")
        cached = CachedAccessToken.of(token, ctx.clock())
        ctx.access_tokens.tokens[connection_id] = cached
        return connection, cached


async def _refresh(
    ctx: ServiceContext, connection: CalendarConnection, *, retried: bool = False
) -> ProviderAccessToken:
    assert connection.refresh_token is not None
    try:
        refresh_token = ctx.cipher.open(connection.refresh_token, context=connection.id)
    except TokenCipherError as error:
        # A key was removed from configuration: only a new link can recover.
        log.error("refresh token does not decrypt", extra={"connection_id": connection.id})
        await _mark_reauth_required(ctx, connection)
        raise errors.reauth_required(connection.label) from error
    try:
        token = await ctx.providers[connection.provider].refresh(refresh_token)
    except InvalidGrant as error:
        # Another replica may have just used (and rotated) this refresh token: retry once with
        # the stored one before deciding that the user must link again.
        latest = await ctx.repos.connections.get(connection.id)
        if (
            not retried
            and latest is not None
            and latest.refresh_token not in (None, connection.refresh_token)
        ):
            latest.ensure_usable()
            return await _refresh(ctx, latest, retried=True)
        await _mark_reauth_required(ctx, latest or connection)
        raise errors.reauth_required(connection.label) from error
    rotated = token.refresh_token or refresh_token
    if token.refresh_token or ctx.cipher.needs_rotation(connection.refresh_token):
        # The provider rotated the refresh token (Microsoft does) or the key rotated: store it now,
        # or the next refresh would present a revoked token.
        await _store_rotated(ctx, connection, rotated)
    return token


async def _store_rotated(ctx: ServiceContext, connection: CalendarConnection, refresh_token: str) -> None:
    """Retry on a concurrent write (say, a room-preference change): losing it would be fatal."""
    for _ in range(5):
        connection.rotate_token(ctx.cipher.seal(refresh_token, context=connection.id), ctx.clock())
        try:
            await ctx.repos.connections.save(connection)
            return
        except VersionConflictError:
            reloaded = await ctx.repos.connections.get(connection.id)
            if reloaded is None or reloaded.refresh_token is None:
                return  # unlinked or marked for re-auth meanwhile: nothing to keep
            connection = reloaded
    log.error("could not store a rotated refresh token", extra={"connection_id": connection.id})


async def _mark_reauth_required(ctx: ServiceContext, connection: CalendarConnection) -> None:
    connection.require_reauth(ctx.clock())
    ctx.access_tokens.forget(connection.id)
    try:
        await ctx.repos.connections.save(connection, [events.reauth_required(connection, ctx.source)])
    except VersionConflictError:
        log.info("connection changed while marking reauth_required", extra={"connection_id": connection.id})
        return
    ctx.notify_outbox()
    log.info("calendar connection needs re-authorisation", extra={"connection_id": connection.id})
