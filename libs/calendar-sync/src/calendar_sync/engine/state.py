"""Repositories of the engine's own state, on the shared ``DocumentCollection`` interface (so
MongoDB and in-memory behave the same):

- ``AppliedStateRepository`` — per appointment: last applied version, entries → provider event
  ids and etags, generations. Writes are compare-and-set; ``is_stale`` makes a handler
  idempotent by version (an equal or older version changes nothing).
  With an event index (``EVENT_INDEX_COLLECTION``: provider event id → appointment id) the
  drift monitor finds the appointment of a changed event in one read instead of loading every
  applied state of the host; the index is written when an event id is first recorded.
- ``ConnectionSyncRepository`` — per calendar connection: the incremental-sync cursor and the
  push channel, used by drift detection.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from calendar_sync.core.model import AppliedState, PushChannel
from visitor_common.persistence.base import DocumentCollection, DuplicateKeyError, VersionConflictError

APPLIED_COLLECTION = "calendar_applied_state"
CONNECTIONS_COLLECTION = "calendar_connection_sync"
EVENT_INDEX_COLLECTION = "calendar_event_index"


class StaleWrite(Exception):
    """Someone else saved a newer revision first (another instance); reload and re-plan."""


class AppliedStateRepository:
    def __init__(self, collection: DocumentCollection, events: DocumentCollection | None = None) -> None:
        self._c = collection
        self._events = events

    @property
    def indexes_events(self) -> bool:
        return self._events is not None

    async def appointment_for_event(self, event_id: str) -> str | None:
        """The appointment whose applied state recorded provider event ``event_id``, if any."""
        if self._events is None:
            return None
        doc = await self._events.get(event_id)
        return str(doc["appointment_id"]) if doc is not None else None

    async def _index_events(self, state: AppliedState) -> list[str]:
        """Record the state's event ids not indexed yet; the ids now indexed."""
        current = [applied.event_id for applied in state.entries.values()]
        if self._events is None:
            return []
        known = set(state.indexed_event_ids)
        for event_id in current:
            if event_id in known:
                continue
            # Written before the state: a crash in between leaves an entry pointing at an
            # appointment that does not know the event, which a lookup simply ignores.
            with contextlib.suppress(DuplicateKeyError):
                await self._events.insert(
                    {
                        "_id": event_id,
                        "version": 1,
                        "appointment_id": state.appointment_id,
                        "connection_id": state.connection_id,
                    }
                )
        return sorted(current)

    async def ensure_indexes(self) -> None:
        await self._c.ensure_indexes([], lookup=["connection_id"])

    async def get(self, appointment_id: str) -> AppliedState | None:
        doc = await self._c.get(appointment_id)
        return _from_doc(doc) if doc is not None else None

    async def load(
        self, appointment_id: str, tenant_id: str, connection_id: str, account_email: str
    ) -> AppliedState:
        """The stored state, or a fresh empty one (revision 0) for a new appointment."""
        found = await self.get(appointment_id)
        if found is not None:
            return found
        return AppliedState(
            appointment_id=appointment_id,
            tenant_id=tenant_id,
            connection_id=connection_id,
            account_email=account_email,
        )

    async def save(self, state: AppliedState) -> AppliedState:
        """Compare-and-set on ``revision``; returns the state with the new revision.

        Raises ``StaleWrite`` when another writer got there first.
        """
        indexed = await self._index_events(state)
        saved = state.model_copy(update={"revision": state.revision + 1, "indexed_event_ids": indexed})
        doc = _to_doc(saved)
        try:
            if state.revision == 0:
                await self._c.insert(doc)
            else:
                await self._c.replace(doc, expected_version=state.revision)
        except (VersionConflictError, DuplicateKeyError) as error:
            raise StaleWrite(state.appointment_id) from error
        return saved

    async def for_connection(self, connection_id: str) -> list[AppliedState]:
        return [_from_doc(d) for d in await self._c.find({"connection_id": connection_id})]


def is_stale(state: AppliedState, version: int) -> bool:
    """True when ``version`` is not newer than what was applied: such a message changes nothing."""
    return version <= state.appointment_version


def _to_doc(state: AppliedState) -> dict[str, Any]:
    doc = state.model_dump(mode="json", exclude={"revision"})
    doc["_id"] = state.appointment_id
    doc["version"] = state.revision
    return doc


def _from_doc(doc: dict[str, Any]) -> AppliedState:
    body = {k: v for k, v in doc.items() if k not in {"_id", "version"}}
    return AppliedState.model_validate({**body, "revision": doc["version"]})


class ConnectionSync(BaseModel):
    """Drift-detection bookkeeping for one calendar connection."""

    connection_id: str
    tenant_id: str
    employee_id: str = ""
    account_email: str
    active: bool = True
    cursor: str | None = None
    channel_id: str | None = None
    channel_token: str | None = None
    channel_resource_id: str | None = None
    channel_expires_at: datetime | None = None
    revision: int = Field(0)

    def channel(self) -> PushChannel | None:
        if not (self.channel_id and self.channel_token and self.channel_expires_at):
            return None
        return PushChannel(
            channel_id=self.channel_id,
            token=self.channel_token,
            resource_id=self.channel_resource_id,
            expires_at=self.channel_expires_at,
        )

    def with_channel(self, channel: PushChannel | None) -> ConnectionSync:
        return self.model_copy(
            update={
                "channel_id": channel.channel_id if channel else None,
                "channel_token": channel.token if channel else None,
                "channel_resource_id": channel.resource_id if channel else None,
                "channel_expires_at": channel.expires_at if channel else None,
            }
        )


class ConnectionSyncRepository:
    def __init__(self, collection: DocumentCollection) -> None:
        self._c = collection

    async def ensure_indexes(self) -> None:
        await self._c.ensure_indexes([], lookup=["active", "channel_id"])

    async def get(self, connection_id: str) -> ConnectionSync | None:
        doc = await self._c.get(connection_id)
        return _sync_from_doc(doc) if doc is not None else None

    async def by_channel(self, channel_id: str) -> ConnectionSync | None:
        found = await self._c.find({"channel_id": channel_id}, limit=1)
        return _sync_from_doc(found[0]) if found else None

    async def active(self) -> list[ConnectionSync]:
        return [_sync_from_doc(d) for d in await self._c.find({"active": True})]

    async def save(self, sync: ConnectionSync) -> ConnectionSync:
        """CAS on ``revision``; raises ``StaleWrite`` when another writer won."""
        saved = sync.model_copy(update={"revision": sync.revision + 1})
        doc = saved.model_dump(mode="json", exclude={"revision"})
        doc["_id"] = sync.connection_id
        doc["version"] = saved.revision
        try:
            if sync.revision == 0:
                await self._c.insert(doc)
            else:
                await self._c.replace(doc, expected_version=sync.revision)
        except (VersionConflictError, DuplicateKeyError) as error:
            raise StaleWrite(sync.connection_id) from error
        return saved


def _sync_from_doc(doc: dict[str, Any]) -> ConnectionSync:
    body = {k: v for k, v in doc.items() if k not in {"_id", "version"}}
    return ConnectionSync.model_validate({**body, "revision": doc["version"]})
