"""``create_app(settings=None, **overrides)``: the Google connector wired together.

Consumes ``topics.GOOGLE_APPOINTMENTS`` (and its retry topic) in consumer group
``calendar-google`` through the shared sync engine, watches connections from
``topics.CONNECTIONS`` for drift (push channels + polling), and serves the rooms /
availability API, the push-notification route and the health routes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from calendar_google.adapters.google_api import GoogleCalendarProvider, provider_http_client
from calendar_google.api.notifications import NOTIFICATION_PATH, notifications_router
from calendar_google.handlers.connections import subscribe_connection_events
from calendar_google.settings import Settings
from calendar_sync.adapters import (
    DirectoryCache,
    availability_router,
    broker_sinks,
    register_consumer,
    start_broker,
)
from calendar_sync.adapters.connections import watch_bound_connection
from calendar_sync.engine import (
    APPLIED_COLLECTION,
    CONNECTIONS_COLLECTION,
    AppliedStateRepository,
    AuthTokenClient,
    ConnectionSyncRepository,
    DriftMonitor,
    StatusPublisher,
    SyncConsumer,
    SyncEngine,
)
from visitor_common import topics
from visitor_common.contracts.auth_internal_client import AuthInternalClient
from visitor_common.events import Provider
from visitor_common.messaging import create_broker, ensure_topics
from visitor_common.persistence import DocumentStore, create_document_store
from visitor_common.security import JwksSource, JwtVerifier
from visitor_common.web import health_router, install_problem_handlers, principal_dependency

log = logging.getLogger(__name__)

SOURCE = "urn:visitor-scheduling:calendar-google"


@dataclass
class Connector:
    """Everything the app runs; tests reach it through ``app.state.connector``."""

    settings: Settings
    broker: KafkaBroker
    store: DocumentStore
    http: httpx.AsyncClient
    tokens: AuthTokenClient
    provider: GoogleCalendarProvider
    engine: SyncEngine
    consumer: SyncConsumer
    monitor: DriftMonitor
    verifier: JwtVerifier

    async def start(self) -> None:
        if self.settings.create_topics:
            await ensure_topics(
                self.settings.kafka_bootstrap_servers, topics.all_topics(self.settings.kafka_partitions)
            )
        await self.engine.states.ensure_indexes()
        await self.monitor.connections.ensure_indexes()
        await start_broker(self.broker)
        self.monitor.start(self.settings.drift_poll_seconds)
        log.info("calendar-google started", extra={"group": self.settings.consumer_group})

    async def stop(self) -> None:
        await self.monitor.stop()
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.tokens.aclose()
        await self.http.aclose()
        await self.store.close()

    async def kafka_ready(self) -> bool:
        return bool(await self.broker.ping(timeout=2.0))


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    if settings is None:
        return Settings(**overrides)
    return settings.model_copy(update=overrides) if overrides else settings


def build_connector(settings: Settings) -> Connector:
    broker = create_broker(settings)
    store = create_document_store(settings)
    http = provider_http_client(settings.provider_ca_file, settings.provider_timeout_seconds)
    tokens = AuthTokenClient(
        AuthInternalClient(
            settings.auth_url, settings.service_client_id, settings.service_client_secret.get_secret_value()
        )
    )
    provider = GoogleCalendarProvider(
        http,
        calendar_base_url=settings.calendar_base_url,
        directory_base_url=settings.directory_base_url,
        id_salt=settings.event_id_salt,
    )
    event_sink, raw_sink, dead_letter = broker_sinks(broker)
    engine = SyncEngine(
        provider,
        tokens,
        AppliedStateRepository(store.collection(APPLIED_COLLECTION)),
        StatusPublisher(event_sink, provider=Provider.GOOGLE, source=SOURCE),
        policy=settings.retry_policy(),
    )
    monitor = DriftMonitor(
        engine,
        ConnectionSyncRepository(store.collection(CONNECTIONS_COLLECTION)),
        push=provider,
        policy_for=settings.policy_for,
        push_address=settings.push_address(NOTIFICATION_PATH),
        channel_ttl_seconds=settings.push_channel_ttl_seconds,
        renew_before_seconds=settings.push_renew_before_seconds,
    )
    consumer = SyncConsumer(
        engine,
        provider=Provider.GOOGLE,
        topic=settings.appointments_topic,
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
    )
    subscribe_connection_events(broker, monitor, tokens, settings)
    verifier = JwtVerifier(
        JwksSource(url=settings.jwks_url), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    return Connector(settings, broker, store, http, tokens, provider, engine, consumer, monitor, verifier)


def create_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    """The connector's FastAPI app; the lifespan starts and stops the broker and drift monitor."""
    connector = build_connector(_settings(settings, overrides))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await connector.start()
        try:
            yield
        finally:
            await connector.stop()

    app = FastAPI(
        title="calendar-google",
        version="0.1.0",
        description="Google Calendar connector: rooms, availability and push notifications.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.state.connector = connector
    app.include_router(health_router(connector.settings.service_name, {"kafka": connector.kafka_ready}))
    current_principal = principal_dependency(lambda: connector.verifier)
    app.include_router(
        availability_router(
            connector.provider,
            connector.tokens,
            current_principal,
            cache=DirectoryCache(connector.settings.directory_cache_seconds),
        )
    )
    app.include_router(notifications_router(connector.monitor))
    return app
