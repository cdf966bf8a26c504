"""Wiring: ``create_app(settings=None, **overrides) -> FastAPI``.

Overrides (tests, single-process setups): ``verifier`` (JwtVerifier), ``directory``
(ConnectionDirectory), ``gateway`` (CalendarGateway), ``store`` (DocumentStore), ``broker``
(KafkaBroker), ``clock`` (() -> aware datetime).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from appointments_service.adapters.auth_client import AuthConnectionDirectory
from appointments_service.adapters.connector_client import HttpCalendarGateway
from appointments_service.adapters.guess_limit import GuessLimiter
from appointments_service.adapters.publisher import kafka_publisher
from appointments_service.adapters.rate_limit import SlidingWindowLimiter
from appointments_service.adapters.repository import AppointmentRepository
from appointments_service.api import appointments as appointments_api
from appointments_service.api import guest as guest_api
from appointments_service.api import reception as reception_api
from appointments_service.api import sync as sync_api
from appointments_service.api.deps import ApiContext
from appointments_service.api.problems import install_domain_error_handler
from appointments_service.handlers.connections import register_connection_view, register_connections_handler
from appointments_service.handlers.sync_status import register_sync_status_handler
from appointments_service.service_layer.appointments import AppointmentService, ServiceConfig
from appointments_service.service_layer.connection_view import ConnectionStatusView
from appointments_service.service_layer.ports import CalendarGateway, ConnectionDirectory
from appointments_service.settings import Settings
from visitor_common.contracts.auth_internal_client import AuthInternalClient
from visitor_common.events import Provider
from visitor_common.outbox import OutboxRelay
from visitor_common.persistence import DocumentStore, create_document_store
from visitor_common.runtime import ServiceRuntime
from visitor_common.sealing import Sealer
from visitor_common.security import JwksSource, JwtVerifier
from visitor_common.web import install_problem_handlers

log = logging.getLogger(__name__)


@dataclass
class Container:
    """Everything the app holds; on ``app.state.container`` for tests and the lifespan."""

    settings: Settings
    runtime: ServiceRuntime
    repository: AppointmentRepository
    service: AppointmentService

    @property
    def store(self) -> DocumentStore:
        return self.runtime.store

    @property
    def broker(self) -> KafkaBroker:
        return self.runtime.broker

    @property
    def relay(self) -> OutboxRelay:
        assert self.runtime.relay is not None
        return self.runtime.relay


def _verifier(settings: Settings) -> JwtVerifier:
    return JwtVerifier(
        JwksSource(url=settings.jwks_url), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )


def _directory(settings: Settings) -> AuthConnectionDirectory:
    client = AuthInternalClient(
        settings.auth_url,
        settings.service_client_id,
        settings.service_client_secret.get_secret_value(),
        timeout=settings.http_timeout_seconds,
    )
    return AuthConnectionDirectory(client)


def _gateway(settings: Settings) -> HttpCalendarGateway:
    urls = {Provider.GOOGLE: settings.google_connector_url, Provider.OUTLOOK: settings.outlook_connector_url}
    return HttpCalendarGateway(urls, timeout=settings.http_timeout_seconds)


def _sealer(settings: Settings) -> Sealer | None:
    sealer = settings.mail_sealer()
    if sealer is None:
        log.warning(
            "no mail seal keys (APPOINTMENTS_MAIL_SEAL_KEYS): no guest invitation or confirmation mails"
        )
    return sealer


def _guess_limiter(settings: Settings, allowed: int) -> GuessLimiter:
    return GuessLimiter(
        allowed, base=settings.reception_lockout_seconds, cap=settings.reception_lockout_max_seconds
    )


def build_container(settings: Settings, overrides: dict[str, Any]) -> Container:
    store: DocumentStore = overrides.get("store") or create_document_store(settings)
    runtime = ServiceRuntime.for_settings(settings, store, overrides.get("broker"))
    repository = AppointmentRepository(store)
    runtime.prepare(repository.ensure_indexes)
    relay = runtime.outbox([repository.appointments], kafka_publisher(runtime.broker))
    directory: ConnectionDirectory = overrides.get("directory") or _directory(settings)
    gateway: CalendarGateway = overrides.get("gateway") or _gateway(settings)
    config = ServiceConfig(
        event_source=settings.event_source,
        guest_link_ttl=timedelta(hours=settings.guest_link_ttl_hours),
        reception_code_attempts=settings.reception_code_attempts,
        guest_base_url=settings.guest_base_url,
    )
    clock: Callable[[], datetime] | None = overrides.get("clock")
    connection_view = ConnectionStatusView()
    service = AppointmentService(
        repository,
        directory,
        gateway,
        config=config,
        notify=relay.notify,
        sealer=_sealer(settings),
        connection_view=connection_view,
        **({"clock": clock} if clock else {}),
    )
    register_sync_status_handler(
        runtime.broker,
        service,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_hot_fetch_max_wait_ms,
    )
    register_connections_handler(
        runtime.broker,
        service,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
    )
    register_connection_view(
        runtime.broker, connection_view, fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms
    )
    for client in (directory, gateway):
        if hasattr(client, "aclose"):
            runtime.on_close(client.aclose)
    if isinstance(directory, AuthConnectionDirectory):
        runtime.readiness_check("auth", directory.reachable)
    return Container(settings, runtime, repository, service)


def create_app(settings: Settings | None = None, **overrides: Any) -> FastAPI:
    settings = settings or Settings()
    container = build_container(settings, overrides)
    app = FastAPI(
        title="Appointments service",
        version="1.0.0",
        description="Scheduling appointments with guests: candidate slots, guest links, reception codes, "
        "calendar binding (R8) and calendar sync state.",
        lifespan=container.runtime.lifespan,
    )
    app.state.container = container
    app.state.api = ApiContext(
        service=container.service,
        verifier=overrides.get("verifier") or _verifier(settings),
        guest_limiter=SlidingWindowLimiter(settings.guest_rate_limit_per_minute, 60.0),
        guest_base_url=settings.guest_base_url,
    )
    app.state.reception = reception_api.ReceptionContext(
        per_device=_guess_limiter(settings, settings.reception_wrong_codes_per_device),
        per_tenant=_guess_limiter(settings, settings.reception_wrong_codes_per_tenant),
    )
    install_problem_handlers(app)
    install_domain_error_handler(app)
    container.runtime.install_operations(app)
    app.include_router(appointments_api.router)
    app.include_router(guest_api.router)
    app.include_router(reception_api.router)
    app.include_router(sync_api.router)
    return app
