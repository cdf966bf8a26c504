"""``topics.CONNECTIONS``: the shared handler, for Outlook connections only."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from calendar_outlook.settings import Settings
from calendar_sync.adapters.connections import ConnectionEventsHandler, register_connection_events
from calendar_sync.engine import AuthTokenClient, DriftMonitor
from visitor_common.events import Provider


def connection_events_handler(monitor: DriftMonitor, tokens: AuthTokenClient) -> ConnectionEventsHandler:
    return ConnectionEventsHandler(Provider.OUTLOOK, monitor, tokens)


def subscribe_connection_events(
    broker: KafkaBroker, handler: ConnectionEventsHandler, settings: Settings
) -> None:
    register_connection_events(
        broker,
        handler,
        consumer_group=settings.consumer_group,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
    )
