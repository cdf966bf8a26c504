"""``topics.CONNECTIONS``: the shared handler, for Google connections only."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from calendar_google.settings import Settings
from calendar_sync.adapters.connections import ConnectionEventsHandler, register_connection_events
from calendar_sync.engine import AuthTokenClient, DriftMonitor
from visitor_common.events import Provider


def subscribe_connection_events(
    broker: KafkaBroker, monitor: DriftMonitor, tokens: AuthTokenClient, settings: Settings
) -> ConnectionEventsHandler:
    handler = ConnectionEventsHandler(Provider.GOOGLE, monitor, tokens)
    register_connection_events(
        broker,
        handler,
        consumer_group=settings.consumer_group,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        topic=settings.connections_topic,
    )
    return handler
