"""``create_app``: the pages, their API clients, the session codec and the security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from visitor_common import tracecontext
from visitor_common.persistence import create_document_store
from visitor_common.runtime import ServiceRuntime
from web_service.adapters.api import Apis, AppointmentsApi, AuthApi, ConnectorApi
from web_service.adapters.session import SessionCodec
from web_service.api import guest, host, linking
from web_service.api.pages import install_page_handlers
from web_service.api.security import SessionAndHeaders
from web_service.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"


def default_apis(settings: Settings, http: httpx.AsyncClient) -> Apis:
    return Apis(
        auth=AuthApi(http, settings.auth_url, "auth"),
        appointments=AppointmentsApi(http, settings.appointments_url, "appointments"),
        connectors={
            "google": ConnectorApi(http, settings.google_connector_url, "calendar-google"),
            "outlook": ConnectorApi(http, settings.outlook_connector_url, "calendar-outlook"),
        },
    )


def create_app(settings: Settings | None = None, *, apis: Apis | None = None, **overrides: Any) -> FastAPI:
    """Build the web front. ``apis`` replaces the HTTP clients (tests); ``overrides`` patch settings."""
    settings = settings or Settings()
    if overrides:
        settings = settings.model_copy(update=overrides)
    # No broker and no data of its own: the runtime only gives the same lifespan and /readyz shape.
    runtime = ServiceRuntime.for_settings(settings, create_document_store(settings))
    if apis is None:
        http = tracecontext.add_trace_hooks(httpx.AsyncClient(timeout=settings.http_timeout_seconds))
        runtime.on_close(http.aclose)
        apis = default_apis(settings, http)
    app = FastAPI(
        title="Web front",
        version="1.0.0",
        description="Server-rendered pages: the guest link, calendar linking and the host console.",
        lifespan=runtime.lifespan,
    )
    app.state.settings = settings
    app.state.apis = apis
    codec = SessionCodec([k.get_secret_value() for k in settings.session_keys], settings.session_ttl_seconds)
    app.add_middleware(
        SessionAndHeaders,
        codec=codec,
        secure=settings.secure_cookies,
        ttl_seconds=settings.session_ttl_seconds,
    )
    install_page_handlers(app)
    runtime.install_operations(app)
    for router in (guest.router, linking.router, host.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
