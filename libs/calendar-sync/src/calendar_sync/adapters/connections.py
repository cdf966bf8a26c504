"""Calendar-connection events from the auth service (``topics.CONNECTIONS``), for any connector.

A link starts drift watching (push channel or subscription); unlink, deactivation and
reauth-required stop it and drop the cached access token. Events of the other provider's
connections are ignored. The bound connection of every appointment is watched from its first
snapshot on too, in case its ``linked`` event has not been consumed yet.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from calendar_sync.engine.monitor import DriftMonitor
from calendar_sync.engine.tokens import AuthTokenClient
from visitor_common import topics
from visitor_common.events import (
    UNPARSABLE,
    AppointmentSnapshot,
    CalendarConnectionDeactivated,
    CalendarConnectionLinked,
    CalendarConnectionReauthRequired,
    CalendarConnectionUnlinked,
    Provider,
    parse_event,
    why_unparsable,
)
from visitor_common.messaging import ConsumedRecord, raw_body, subscribe

log = logging.getLogger(__name__)

_STOPPING = (CalendarConnectionUnlinked, CalendarConnectionDeactivated, CalendarConnectionReauthRequired)


class ConnectionEventsHandler:
    """Start or stop watching ``provider``'s connections; never raises (the partition moves on)."""

    def __init__(
        self, provider: Provider, monitor: DriftMonitor, tokens: AuthTokenClient | None = None
    ) -> None:
        self._provider = provider
        self._monitor = monitor
        self._tokens = tokens
        self.handled = 0

    async def handle(self, raw: bytes) -> None:
        try:
            await self._handle(raw)
        except Exception:  # a drift-watch problem must not stall the connections partition
            log.exception("handling a connection event failed")

    async def _handle(self, raw: bytes) -> None:
        try:
            envelope = parse_event(raw)
        except UNPARSABLE as error:
            log.warning("ignoring an unreadable connection event", extra={"error": why_unparsable(error)})
            return
        data = envelope.data
        if getattr(data, "provider", None) is not self._provider:
            return
        self.handled += 1
        if isinstance(data, CalendarConnectionLinked):
            await self._monitor.register(
                connection_id=data.connection_id,
                tenant_id=data.tenant_id,
                account_email=str(data.account_email),
                employee_id=data.employee_id,
            )
        elif isinstance(data, _STOPPING):
            await self._monitor.deactivate(data.connection_id)
            if self._tokens is not None:
                self._tokens.forget(data.connection_id)


def watch_bound_connection(monitor: DriftMonitor) -> Callable[[AppointmentSnapshot], Awaitable[None]]:
    """``SyncConsumer(on_snapshot=...)``: watch the bound connection from its first appointment."""

    async def watch(snapshot: AppointmentSnapshot) -> None:
        if snapshot.binding is not None:
            await monitor.ensure_registered(
                connection_id=snapshot.binding.connection_id,
                tenant_id=snapshot.tenant_id,
                account_email=str(snapshot.binding.account_email),
            )

    return watch


def register_connection_events(
    broker: KafkaBroker,
    handler: ConnectionEventsHandler,
    *,
    consumer_group: str,
    session_timeout_ms: int,
    heartbeat_interval_ms: int,
    topic: str = topics.CONNECTIONS,
) -> None:
    """Subscribe in ``<consumer_group>.connections``: its own group, so its joins never
    rebalance the appointment consumers."""

    async def on_connection_event(msg: ConsumedRecord) -> None:
        await handler.handle(raw_body(msg.body))

    subscribe(
        broker,
        topic,
        group_id=f"{consumer_group}.connections",
        ack_policy=AckPolicy.ACK,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
    )(on_connection_event)
