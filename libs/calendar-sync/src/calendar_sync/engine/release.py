"""Releasing the tentative holds of a connection before its grant is revoked (decision 0011).

A deliberate unlink must leave no hold behind, and only the connector knows which provider
events are holds (its applied state) while only a still-valid grant can delete them. So the auth
service asks the connector first; this deletes every hold the system wrote for the connection
and forgets it in the applied state, under each appointment's lock (never racing an apply).
Confirmed events stay: they are real meetings. Should the same account be linked again, the
next change of an appointment writes its holds afresh (with a new generation, so a new id).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from calendar_sync.core.errors import EventNotFound, ProviderError, TokenError
from calendar_sync.core.model import AppliedEntry, AppliedState, EntryKind
from calendar_sync.core.provider import ProviderAccess
from calendar_sync.engine.engine import SyncEngine
from calendar_sync.engine.state import StaleWrite
from visitor_common.contracts.connections import HoldsReleased

log = logging.getLogger(__name__)


async def release_holds(engine: SyncEngine, connection_id: str) -> HoldsReleased:
    """Delete the connection's holds at the provider; count what could not be deleted."""
    released = failed = 0
    for state in await engine.states.for_connection(connection_id):
        async with engine.locks.hold(state.appointment_id):
            done, not_done = await _release_one(engine, state.appointment_id)
        released += done
        failed += not_done
    log.info(
        "released the holds of a connection",
        extra={"connection_id": connection_id, "released": released, "failed": failed},
    )
    return HoldsReleased(connection_id=connection_id, released=released, failed=failed)


async def _release_one(engine: SyncEngine, appointment_id: str) -> tuple[int, int]:
    state = await engine.states.get(appointment_id)  # re-read under the lock
    if state is None:
        return 0, 0
    holds = [a for a in state.entries.values() if a.entry.kind is EntryKind.HOLD]
    if not holds:
        return 0, 0
    session = engine.session(state.connection_id, state.account_email, state.tenant_id)
    kept = dict(state.entries)
    failed = 0
    for applied in holds:
        try:
            with contextlib.suppress(EventNotFound):  # already gone: released all the same
                await session.call(_deleter(engine, applied.event_id), "release hold")
        except (ProviderError, TokenError) as error:
            failed += 1
            log.warning(
                "could not release a hold",
                extra={"appointment_id": appointment_id, "event_id": applied.event_id, "error": str(error)},
            )
            continue
        del kept[applied.key]
    await _save(engine, state, kept)
    return len(holds) - failed, failed


def _deleter(engine: SyncEngine, event_id: str) -> Callable[[ProviderAccess], Awaitable[None]]:
    async def delete(access: ProviderAccess) -> None:
        await engine.provider.delete_event(access, event_id)

    return delete


async def _save(engine: SyncEngine, state: AppliedState, entries: dict[str, AppliedEntry]) -> None:
    try:
        await engine.states.save(state.model_copy(update={"entries": entries}))
    except StaleWrite:  # cannot happen under the lock unless another replica applied meanwhile
        log.warning(
            "applied state changed while releasing holds", extra={"appointment_id": state.appointment_id}
        )
