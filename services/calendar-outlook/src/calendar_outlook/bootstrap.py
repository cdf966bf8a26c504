"""Wiring of the Outlook connector: ``create_app(settings=None, **overrides) -> FastAPI``.

The lifespan creates the topics, starts the broker (appointment consumer + retry topic, and the
connection-events consumer), the drift monitor (push subscriptions and the polling fallback),
and closes everything on the way out. Everything built here is reachable as
``app.state.components`` (tests and operators' tooling use it).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from calendar_outlook.adapters.graph.client import GraphClient
from calendar_outlook.adapters.graph.limiter import MailboxLimiter
from calendar_outlook.adapters.graph_provider import GraphCalendarProvider
from calendar_outlook.api.notifications import NOTIFICATION_PATH, notifications_router
from calendar_outlook.handlers.connections import connection_events_handler, subscribe_connection_events
from calendar_outlook.settings import Settings
from calendar_sync.adapters.connections import ConnectionEventsHandler, watch_bound_connection
from calendar_sync.adapters.kafka import broker_sinks, register_consumer, start_broker
from calendar_sync.adapters.router import DirectoryCache, availability_router
from calendar_sync.engine.consumer import SyncConsumer
from calendar_sync.engine.engine import SyncEngine
from calendar_sync.engine.monitor import DriftMonitor
from calendar_sync.engine.state import (
    APPLIED_COLLECTION,
    CONNECTIONS_COLLECTION,
    AppliedStateRepository,
    ConnectionSyncRepository,
)
from calendar_sync.engine.status import StatusPublisher
from calendar_sync.engine.tokens import AuthTokenClient
from visitor_common import topics
from visitor_common.contracts.auth_internal_client import AuthInternalClient
from visitor_common.events.appointments import Provider
from visitor_common.messaging import create_broker, ensure_topics
from visitor_common.persistence import DocumentStore, create_document_store
from visitor_common.security.jwt import JwksSource, JwtVerifier
from visitor_common.web import health_router, install_problem_handlers, principal_dependency

SOURCE = "/services/calendar-outlook"


@dataclass
class Components:
    settings: Settings
    broker: KafkaBroker
    store: DocumentStore
    graph_http: httpx.AsyncClient
    limiter: MailboxLimiter
    graph: GraphClient
    provider: GraphCalendarProvider
    tokens: AuthTokenClient
    states: AppliedStateRepository
    connections: ConnectionSyncRepository
    statuses: StatusPublisher
    engine: SyncEngine
    consumer: SyncConsumer
    monitor: DriftMonitor
    connection_events: ConnectionEventsHandler


def _graph_http(settings: Settings) -> httpx.AsyncClient:
    verify: ssl.SSLContext | bool = True
    if settings.provider_ca_file is not None:
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=str(settings.provider_ca_file))
        verify = context
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    return httpx.AsyncClient(verify=verify, timeout=settings.provider_timeout_seconds, limits=limits)


def build_components(settings: Settings, *, store: DocumentStore | None = None) -> Components:
    broker = create_broker(settings)
    store = store or create_document_store(settings)
    graph_http = _graph_http(settings)
    limiter = MailboxLimiter(settings.mailbox_concurrency)
    graph = GraphClient(graph_http, base_url=settings.graph_base_url, limiter=limiter)
    provider = GraphCalendarProvider(graph, delta_window_future=timedelta(days=settings.drift_window_days))
    tokens = AuthTokenClient(
        AuthInternalClient(
            settings.auth_url, settings.service_client_id, settings.service_client_secret.get_secret_value()
        )
    )
    states = AppliedStateRepository(store.collection(APPLIED_COLLECTION))
    connections = ConnectionSyncRepository(store.collection(CONNECTIONS_COLLECTION))
    event_sink, raw_sink, dead_letter = broker_sinks(broker)
    statuses = StatusPublisher(event_sink, provider=Provider.OUTLOOK, source=SOURCE)
    engine = SyncEngine(provider, tokens, states, statuses, policy=settings.retry_policy())
    monitor = DriftMonitor(
        engine,
        connections,
        push=provider,
        hooks=provider,  # Graph renews a subscription in place (PATCH)
        policy_for=settings.policy_for,
        push_address=settings.push_address(NOTIFICATION_PATH),
        channel_ttl_seconds=settings.push_channel_ttl_seconds,
        renew_before_seconds=settings.push_renew_before_seconds,
    )
    consumer = SyncConsumer(
        engine,
        provider=Provider.OUTLOOK,
        topic=topics.OUTLOOK_APPOINTMENTS,
        raw_sink=raw_sink,
        dead_letter=dead_letter,
        redelivery=settings.redelivery_policy(),
        on_snapshot=watch_bound_connection(monitor),
    )
    handler = connection_events_handler(monitor, tokens)
    return Components(
        settings, broker, store, graph_http, limiter, graph, provider, tokens, states, connections,
        statuses, engine, consumer, monitor, handler,
    )  # fmt: skip


def _subscribe(c: Components) -> None:
    settings = c.settings
    register_consumer(
        c.broker,
        c.consumer,
        group_id=settings.consumer_group,
        max_workers=settings.consumer_max_workers,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
    )
    subscribe_connection_events(c.broker, c.connection_events, settings)


def create_app(
    settings: Settings | None = None, *, store: DocumentStore | None = None, **overrides: Any
) -> FastAPI:
    settings = settings.model_copy(update=overrides) if settings else Settings(**overrides)
    c = build_components(settings, store=store)
    _subscribe(c)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap_servers, topics.all_topics(settings.kafka_partitions))
        await c.states.ensure_indexes()
        await c.connections.ensure_indexes()
        await start_broker(c.broker)  # subscribers join their groups concurrently
        c.monitor.start(settings.drift_poll_seconds)
        try:
            yield
        finally:
            await c.monitor.stop()
            await c.broker.stop()
            await c.graph_http.aclose()
            await c.tokens.aclose()
            await c.store.close()

    app = FastAPI(
        title="Outlook calendar connector",
        version="1.0.0",
        description="Microsoft Graph sync, getSchedule availability, room lists and drift detection.",
        lifespan=lifespan,
    )
    app.state.components = c
    install_problem_handlers(app)
    verifier = JwtVerifier(
        JwksSource(url=settings.jwks_url), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    current_principal = principal_dependency(lambda: verifier)
    app.include_router(health_router(settings.service_name, {"kafka": lambda: c.broker.ping(2.0)}))
    app.include_router(
        availability_router(
            c.provider, c.tokens, current_principal, cache=DirectoryCache(settings.directory_cache_seconds)
        )
    )
    app.include_router(notifications_router(c.monitor))
    return app
