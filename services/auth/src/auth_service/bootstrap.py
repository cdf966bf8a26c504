"""``create_app``: wires settings, storage, keys, provider clients, the broker and the outbox relay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from auth_service.adapters.crypto import TokenCipher
from auth_service.adapters.google import GoogleClient
from auth_service.adapters.microsoft import MicrosoftClient
from auth_service.adapters.providers import ProviderClient
from auth_service.adapters.publisher import kafka_publisher
from auth_service.adapters.repositories import Repositories
from auth_service.adapters.signing import SigningKey
from auth_service.api import connections, employees, internal, public
from auth_service.api.deps import problem_of, refusal_headers
from auth_service.domain.errors import AuthServiceError
from auth_service.service_layer.context import Clock, ServiceContext, utc_now
from auth_service.settings import Settings
from visitor_common.events import Provider
from visitor_common.messaging import create_broker, ensure_topics
from visitor_common.outbox import OutboxRelay, Publisher
from visitor_common.persistence import DocumentStore, create_document_store
from visitor_common.security import JwksSource, JwtVerifier
from visitor_common.topics import all_topics
from visitor_common.web import health_router, install_problem_handlers, problem_response

log = logging.getLogger(__name__)


def _signing_key(settings: Settings) -> SigningKey:
    if settings.signing_key_pem is None:
        log.warning("AUTH_SIGNING_KEY_PEM unset: generated a signing key; tokens die with this process")
        return SigningKey.generate()
    return SigningKey.from_pem(settings.signing_key_pem.get_secret_value())


def _cipher(settings: Settings) -> TokenCipher:
    if not settings.token_encryption_keys:
        log.warning("AUTH_TOKEN_ENCRYPTION_KEYS unset: refresh tokens sealed with a throwaway key")
        return TokenCipher.ephemeral()
    keys = {kid: key.get_secret_value() for kid, key in settings.token_encryption_keys.items()}
    return TokenCipher.from_config(keys, settings.token_encryption_active_kid)


def default_providers(settings: Settings) -> dict[Provider, ProviderClient]:
    return {Provider.GOOGLE: GoogleClient(settings), Provider.OUTLOOK: MicrosoftClient(settings)}


def create_app(
    settings: Settings | None = None,
    *,
    store: DocumentStore | None = None,
    providers: dict[Provider, ProviderClient] | None = None,
    publish: Publisher | None = None,
    clock: Clock = utc_now,
    **overrides: Any,
) -> FastAPI:
    """Build the service. ``publish`` replaces Kafka (tests); ``overrides`` patch settings."""
    settings = (
        (settings or Settings()).model_copy(update=overrides) if overrides else (settings or Settings())
    )
    store = store or create_document_store(settings)
    signing_key = _signing_key(settings)
    context = ServiceContext(
        settings=settings,
        repos=Repositories(store),
        cipher=_cipher(settings),
        signing_key=signing_key,
        providers=providers if providers is not None else default_providers(settings),
        clock=clock,
    )
    verifier = JwtVerifier(
        JwksSource(static=signing_key.jwks()), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    runtime: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await context.repos.ensure_indexes()
        broker, publisher = await _start_publishing(settings, publish)
        relay: OutboxRelay | None = None
        relay_task: asyncio.Task[None] | None = None
        if publisher is not None:
            relay = OutboxRelay(
                context.repos.outbox_collections, publisher, poll_interval=settings.outbox_poll_seconds
            )
            relay_task = asyncio.create_task(relay.run(), name="auth-outbox-relay")
            context.notify_outbox = relay.notify
        runtime.update(broker=broker, relay=relay)
        try:
            yield
        finally:
            if relay_task is not None:
                await _cancel(relay_task)
            if broker is not None:
                await broker.stop()
            await store.close()

    app = FastAPI(
        title="Auth service",
        version="1.0.0",
        description="Tenants, employees, API sign-in, calendar connections and the internal token API.",
        lifespan=lifespan,
    )
    app.state.context = context
    app.state.verifier = verifier
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.add_exception_handler(AuthServiceError, _on_refusal)
    app.include_router(health_router(settings.service_name, _readiness(store, runtime)))
    for router in (public.router, employees.router, connections.router, internal.router):
        app.include_router(router)
    return app


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel until it is done: on Python 3.11 ``asyncio.wait_for`` (inside the relay's loop)
    swallows a cancellation that arrives as its inner wait completes, so one cancel may not do."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)


async def _on_refusal(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthServiceError)
    return problem_response(problem_of(exc).problem, refusal_headers(exc))


async def _start_publishing(
    settings: Settings, publish: Publisher | None
) -> tuple[KafkaBroker | None, Publisher | None]:
    if publish is not None:
        return None, publish
    if not settings.kafka_enabled:
        log.warning("AUTH_KAFKA_ENABLED=false: events stay in the outbox")
        return None, None
    broker = create_broker(settings)
    await ensure_topics(settings.kafka_bootstrap_servers, all_topics(settings.kafka_partitions))
    await broker.connect()
    return broker, kafka_publisher(broker)


def _readiness(store: DocumentStore, runtime: dict[str, Any]) -> dict[str, Any]:
    async def storage() -> bool:
        ping = getattr(store, "ping", None)
        if ping is not None:
            await ping()
        return True

    async def broker() -> bool:
        current: KafkaBroker | None = runtime.get("broker")
        return True if current is None else await current.ping(timeout=2.0)

    return {"storage": storage, "broker": broker}
