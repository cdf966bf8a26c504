"""A connector service in one shape: both connectors are this wiring around their provider.

A connector's ``bootstrap.py`` builds its provider adapter (transport + mapping) on
:func:`provider_http_client`, then calls :func:`build_connector` and :func:`connector_app`
with its notification route. Everything else — the engine, the appointment and connection
consumers, the drift monitor, the rooms / availability API, health and the start/stop order
(``visitor_common.runtime.ServiceRuntime``) — is the same for every provider.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker

from calendar_sync.adapters.batching import BatchCodec, BatchingTransport
from calendar_sync.adapters.connections import (
    ConnectionEventsHandler,
    register_connection_events,
    watch_bound_connection,
)
from calendar_sync.adapters.holds import holds_router
from calendar_sync.adapters.kafka import broker_sinks, register_consumer
from calendar_sync.adapters.ratelimit import SourceRateLimit
from calendar_sync.adapters.router import DirectoryCache, availability_router
from calendar_sync.core.provider import CalendarProvider
from calendar_sync.engine.consumer import SyncConsumer
from calendar_sync.engine.engine import SyncEngine
from calendar_sync.engine.monitor import ChannelHooks, DriftMonitor
from calendar_sync.engine.ownership import MEMBERS_COLLECTION, OWNERS_COLLECTION, Ownership
from calendar_sync.engine.settings import ConnectorSettings
from calendar_sync.engine.state import (
    APPLIED_COLLECTION,
    CONNECTIONS_COLLECTION,
    EVENT_INDEX_COLLECTION,
    AppliedStateRepository,
    ConnectionSyncRepository,
)
from calendar_sync.engine.status import StatusPublisher
from calendar_sync.engine.tokens import AuthTokenClient
from visitor_common import metrics, topics, tracecontext
from visitor_common.contracts.auth_internal_client import AuthInternalClient
from visitor_common.events import Provider
from visitor_common.persistence import DocumentStore, create_document_store
from visitor_common.runtime import ServiceRuntime
from visitor_common.security import JwksSource, JwtVerifier
from visitor_common.web import install_problem_handlers, principal_dependency

S = TypeVar("S", bound=ConnectorSettings)


def provider_http_client(
    settings: ConnectorSettings, *, max_connections: int = 100, batches: BatchCodec | None = None
) -> httpx.AsyncClient:
    """One pooled HTTPS client for the provider's hosts, trusting ``provider_ca_file`` too;
    event writes issued together go out as one batch request in ``batches``' format."""
    verify: ssl.SSLContext | bool = True
    if settings.provider_ca_file is not None:
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(settings.provider_ca_file))
        verify = context
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=50)
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    if batches is not None:
        transport = BatchingTransport(transport, batches)
    return httpx.AsyncClient(transport=transport, timeout=settings.provider_timeout_seconds)


@dataclass
class Connector:
    """Everything a connector runs; tests reach it through ``app.state.connector``."""

    settings: ConnectorSettings
    runtime: ServiceRuntime
    provider: CalendarProvider
    tokens: AuthTokenClient
    engine: SyncEngine
    consumer: SyncConsumer
    monitor: DriftMonitor
    connection_events: ConnectionEventsHandler
    verifier: JwtVerifier

    @property
    def broker(self) -> KafkaBroker:
        return self.runtime.broker

    @property
    def store(self) -> DocumentStore:
        return self.runtime.store


def build_connector(
    settings: ConnectorSettings,
    *,
    provider_kind: Provider,
    provider: CalendarProvider,
    http: httpx.AsyncClient,
    hooks: ChannelHooks | None = None,
    notification_path: str,
    store: DocumentStore | None = None,
) -> Connector:
    """Wire the engine around ``provider``; ``http`` (the provider's client) is closed at stop."""
    runtime = ServiceRuntime.for_settings(settings, store or create_document_store(settings))
    broker = runtime.broker
    auth = AuthInternalClient(
        settings.auth_url, settings.service_client_id, settings.service_client_secret.get_secret_value()
    )
    tokens = AuthTokenClient(auth)
    runtime.readiness_check("auth", auth.reachable)
    metrics.instrument_provider_client(provider_kind.value, tracecontext.add_trace_hooks(http))
    states = AppliedStateRepository(
        runtime.store.collection(APPLIED_COLLECTION), runtime.store.collection(EVENT_INDEX_COLLECTION)
    )
    connections = ConnectionSyncRepository(runtime.store.collection(CONNECTIONS_COLLECTION))
    ownership = Ownership(
        runtime.store.collection(MEMBERS_COLLECTION),
        runtime.store.collection(OWNERS_COLLECTION),
        instance_id=settings.drift_instance_id,
        lease_seconds=settings.drift_lease_seconds,
        rebalance_seconds=settings.drift_rebalance_seconds,
    )
    event_sink, raw_sink, dead_letter = broker_sinks(broker)
    statuses = StatusPublisher(event_sink, provider=provider_kind, source=settings.event_source)
    engine = SyncEngine(provider, tokens, states, statuses, policy=settings.retry_policy())
    push = provider if hasattr(provider, "open_channel") else None
    monitor = DriftMonitor(
        engine,
        connections,
        push=push,  # type: ignore[arg-type]
        hooks=hooks,
        policy_for=settings.policy_for,
        push_address=settings.push_address(notification_path),
        channel_ttl_seconds=settings.push_channel_ttl_seconds,
        renew_before_seconds=settings.push_renew_before_seconds,
        ownership=ownership,
        healthy_poll_seconds=settings.drift_healthy_poll_seconds,
        poll_concurrency=settings.drift_poll_concurrency,
        debounce_seconds=settings.drift_debounce_seconds,
    )
    consumer = SyncConsumer(
        engine,
        provider=provider_kind,
        topic=settings.appointments_topic or topics.appointments_topic_for(provider_kind),
        raw_sink=raw_sink,
        dead_letter=dead_letter,
        redelivery=settings.redelivery_policy(),
        on_snapshot=watch_bound_connection(monitor),
    )
    register_consumer(
        broker,
        consumer,
        group_id=settings.consumer_group,
        max_workers=settings.consumer_max_workers,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        fetch_max_wait_ms=settings.kafka_hot_fetch_max_wait_ms,
        retry_fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
    connection_events = ConnectionEventsHandler(provider_kind, monitor, tokens)
    register_connection_events(
        broker,
        connection_events,
        consumer_group=settings.consumer_group,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        topic=settings.connections_topic,
    )
    runtime.prepare(states.ensure_indexes)
    runtime.prepare(connections.ensure_indexes)
    runtime.prepare(ownership.ensure_indexes)
    runtime.background("drift monitor", lambda: monitor.start(settings.drift_poll_seconds), monitor.stop)
    runtime.on_close(tokens.aclose)
    runtime.on_close(http.aclose)
    verifier = JwtVerifier(
        JwksSource(url=settings.jwks_url), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    return Connector(
        settings, runtime, provider, tokens, engine, consumer, monitor, connection_events, verifier
    )


def connector_app(
    connector: Connector,
    *,
    title: str,
    description: str,
    notifications: Callable[[DriftMonitor, SourceRateLimit], APIRouter],
) -> FastAPI:
    """The connector's HTTP app: health, rooms / availability, and its notification route."""
    app = FastAPI(title=title, version="1.0.0", description=description, lifespan=connector.runtime.lifespan)
    install_problem_handlers(app)
    app.state.connector = connector
    connector.runtime.install_operations(app)
    current_principal = principal_dependency(lambda: connector.verifier)
    app.include_router(
        availability_router(
            connector.provider,
            connector.tokens,
            current_principal,
            cache=DirectoryCache(connector.settings.directory_cache_seconds),
        )
    )
    app.include_router(
        notifications(
            connector.monitor, SourceRateLimit(connector.settings.notification_rate_limit_per_minute)
        )
    )
    # The auth service asks for the holds to be released before it revokes a grant (0011).
    app.include_router(holds_router(connector.engine, current_principal))
    return app


@dataclass(frozen=True)
class ConnectorAppSpec(Generic[S]):
    """What makes one connector: its settings class, how to build it around its provider, and
    its HTTP app's title and notification route. ``create_app`` is the connector's entry point."""

    settings_class: type[S]
    build: Callable[..., Connector]
    title: str
    description: str
    notifications: Callable[[DriftMonitor, SourceRateLimit], APIRouter]

    def create_app(
        self, settings: S | None = None, *, store: DocumentStore | None = None, **overrides: Any
    ) -> FastAPI:
        """``create_app(settings=None, store=None, **overrides)``: overrides patch the settings."""
        settings = settings.model_copy(update=overrides) if settings else self.settings_class(**overrides)
        return connector_app(
            self.build(settings, store=store),
            title=self.title,
            description=self.description,
            notifications=self.notifications,
        )
