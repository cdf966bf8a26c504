"""Publishing ``CalendarSyncStatusReported`` to ``topics.SYNC_STATUS``, keyed by appointment id,
always with the appointment version and the provider event ids."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from visitor_common import metrics, topics
from visitor_common.events import CloudEvent, new_event
from visitor_common.events.appointments import Provider
from visitor_common.events.sync import (
    CalendarSyncStatusReported,
    DriftChange,
    SyncFailureReason,
    SyncState,
)

log = logging.getLogger(__name__)

EventSink = Callable[[str, CloudEvent[Any]], Awaitable[None]]
"""``(topic, envelope) -> None``: e.g. ``lambda t, e: publish_event(broker, t, e)``."""


class StatusPublisher:
    def __init__(self, sink: EventSink, *, provider: Provider, source: str) -> None:
        self._sink = sink
        self._provider = provider
        self._source = source

    async def report(
        self,
        *,
        appointment_id: str,
        tenant_id: str,
        connection_id: str,
        appointment_version: int,
        state: SyncState,
        provider_event_ids: dict[str, str] | None = None,
        reason: SyncFailureReason | None = None,
        message: str | None = None,
        retriable: bool = False,
        drift: Sequence[DriftChange] = (),
    ) -> CalendarSyncStatusReported:
        payload = CalendarSyncStatusReported(
            appointment_id=appointment_id,
            tenant_id=tenant_id,
            provider=self._provider,
            connection_id=connection_id,
            appointment_version=appointment_version,
            state=state,
            reason_code=reason,
            message=message,
            retriable=retriable,
            provider_event_ids=dict(provider_event_ids or {}),
            drift=tuple(drift),
        )
        event = new_event(
            payload,
            source=self._source,
            subject=appointment_id,
            tenant_id=tenant_id,
            appointment_version=appointment_version,
        )
        await self._sink(topics.SYNC_STATUS, event)
        metrics.sync_outcome(self._provider.value, state.value, reason.value if reason else None)
        for change in drift:
            metrics.drift_detected(self._provider.value, change.kind.value)
        log.info(
            "sync status reported",
            extra={
                "appointment_id": appointment_id,
                "appointment_version": appointment_version,
                "sync_state": state.value,
                "reason_code": reason.value if reason else None,
            },
        )
        return payload
