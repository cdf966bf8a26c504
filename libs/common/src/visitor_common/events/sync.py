"""Calendar sync-status events (v1), produced by the connectors, consumed by appointments."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from visitor_common.events.appointments import Provider
from visitor_common.events.envelope import EventData


class SyncState(StrEnum):
    NOT_LINKED = "not_linked"
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"
    DRIFTED = "drifted"


class SyncFailureReason(StrEnum):
    """Stable reason codes for ``failed``; each comes with a human message."""

    REAUTH_REQUIRED = "reauth_required"
    CONNECTION_INACTIVE = "connection_inactive"
    ROOM_UNAVAILABLE = "room_unavailable"
    RATE_LIMITED = "rate_limited"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_REJECTED = "provider_rejected"


class DriftKind(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"


class DriftChange(BaseModel):
    """One difference between the system's version of an event and the provider's."""

    model_config = ConfigDict(frozen=True)

    entry_key: str = Field(description="Which calendar entry (see CalendarEntry.key).")
    provider_event_id: str
    kind: DriftKind
    field: str | None = None
    expected: Any = None
    actual: Any = None


class CalendarSyncStatusReported(EventData):
    """A connector's outcome for one appointment version."""

    event_name: ClassVar[str] = "calendar.sync-status-reported"

    appointment_id: str
    tenant_id: str
    provider: Provider
    connection_id: str
    appointment_version: int = Field(ge=1)
    state: SyncState
    reason_code: SyncFailureReason | None = None
    message: str | None = None
    retriable: bool = False
    provider_event_ids: dict[str, str] = Field(default_factory=dict)
    drift: tuple[DriftChange, ...] = ()
    observed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
