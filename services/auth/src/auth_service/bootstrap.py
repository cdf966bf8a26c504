"""``create_app``: wires settings, storage, keys, provider clients, the broker and the outbox relay."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from auth_service.adapters.connectors import HttpHoldReleaser
from auth_service.adapters.crypto import TokenCipher
from auth_service.adapters.google import GoogleClient
from auth_service.adapters.microsoft import MicrosoftClient
from auth_service.adapters.providers import ProviderClient
from auth_service.adapters.repositories import Repositories
from auth_service.adapters.signing import SigningKey
from auth_service.api import connections, employees, internal, public, reception
from auth_service.api.deps import problem_of, refusal_headers
from auth_service.domain.errors import AuthServiceError
from auth_service.service_layer import accounts
from auth_service.service_layer.context import Clock, ServiceContext, SignInThrottle, utc_now
from auth_service.service_layer.throttle import FailureThrottle
from auth_service.settings import Settings
from visitor_common.contracts.connections import RELEASE_HOLDS_SCOPE
from visitor_common.events import Provider
from visitor_common.messaging import outbox_publisher
from visitor_common.outbox import Publisher
from visitor_common.persistence import DocumentStore, create_document_store
from visitor_common.runtime import ServiceRuntime
from visitor_common.security import JwksSource, JwtVerifier
from visitor_common.web import install_problem_handlers, problem_response

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


def sign_in_throttle_of(settings: Settings) -> SignInThrottle:
    def throttle(max_failures: int) -> FailureThrottle:
        return FailureThrottle(
            max_failures=max_failures,
            base_lockout=settings.sign_in_lockout_seconds,
            max_lockout=settings.sign_in_max_lockout_seconds,
        )

    return SignInThrottle(
        accounts=throttle(settings.sign_in_max_failures_per_account),
        addresses=throttle(settings.sign_in_max_failures_per_address),
    )


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
    if publish is not None:  # a test's recorder replaces Kafka
        settings = settings.model_copy(update={"kafka_enabled": False})
    store = store or create_document_store(settings)
    signing_key = _signing_key(settings)
    context = ServiceContext(
        settings=settings,
        repos=Repositories(store),
        cipher=_cipher(settings),
        signing_key=signing_key,
        providers=providers if providers is not None else default_providers(settings),
        clock=clock,
        reception_throttle=FailureThrottle(
            max_failures=settings.reception_max_failures,
            base_lockout=settings.reception_lockout_seconds,
            max_lockout=settings.reception_max_lockout_seconds,
        ),
        sign_in_throttle=sign_in_throttle_of(settings),
    )
    verifier = JwtVerifier(
        JwksSource(static=signing_key.jwks()), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    runtime = ServiceRuntime.for_settings(settings, store)
    runtime.prepare(context.repos.ensure_indexes)
    relay = runtime.outbox(
        context.repos.outbox_collections,
        publish or outbox_publisher(runtime.broker),
        needs_broker=publish is None,
    )
    context.notify_outbox = relay.notify
    holds = HttpHoldReleaser(
        {
            Provider.GOOGLE: settings.google_connector_url or "",
            Provider.OUTLOOK: settings.outlook_connector_url or "",
        },
        lambda: accounts.own_service_token(context, RELEASE_HOLDS_SCOPE),
        timeout=settings.hold_release_timeout_seconds,
    )
    context.holds = holds
    runtime.on_close(holds.aclose)

    app = FastAPI(
        title="Auth service",
        version="1.0.0",
        description="Tenants, employees, API sign-in, calendar connections and the internal token API.",
        lifespan=runtime.lifespan,
    )
    app.state.context = context
    app.state.verifier = verifier
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.add_exception_handler(AuthServiceError, _on_refusal)
    runtime.install_operations(app)
    for router in (public.router, employees.router, reception.router, connections.router, internal.router):
        app.include_router(router)
    return app


async def _on_refusal(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthServiceError)
    return problem_response(problem_of(exc).problem, refusal_headers(exc))
