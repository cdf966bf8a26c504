"""``create_app(settings=None, **overrides)``: the Google connector wired together.

The Google adapter (Calendar v3 + Admin SDK Directory over one pooled HTTPS client) and its
push-notification route, on the shared connector shape (``calendar_sync.adapters.service``):
it consumes ``topics.GOOGLE_APPOINTMENTS`` (and its retry topic) in consumer group
``calendar-google``, watches connections from ``topics.CONNECTIONS`` for drift, and serves the
rooms / availability API and the health routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from calendar_google.adapters.google_api import GoogleCalendarProvider
from calendar_google.api.notifications import NOTIFICATION_PATH, notifications_router
from calendar_google.settings import Settings
from calendar_sync.adapters.holds import holds_router
from calendar_sync.adapters.ratelimit import SourceRateLimit
from calendar_sync.adapters.service import Connector, build_connector, connector_app, provider_http_client
from visitor_common.events import Provider
from visitor_common.persistence import DocumentStore
from visitor_common.web import principal_dependency


def build(settings: Settings, *, store: DocumentStore | None = None) -> Connector:
    http = provider_http_client(settings)
    provider = GoogleCalendarProvider(
        http,
        calendar_base_url=settings.calendar_base_url,
        directory_base_url=settings.directory_base_url,
        id_salt=settings.event_id_salt,
    )
    return build_connector(
        settings,
        provider_kind=Provider.GOOGLE,
        provider=provider,
        http=http,
        notification_path=NOTIFICATION_PATH,
        store=store,
    )


def create_app(
    settings: Settings | None = None, *, store: DocumentStore | None = None, **overrides: Any
) -> FastAPI:
    settings = settings.model_copy(update=overrides) if settings else Settings(**overrides)
    connector = build(settings, store=store)
    app = connector_app(
        connector,
        title="calendar-google",
        description="Google Calendar connector: rooms, availability and push notifications.",
        notifications=lambda monitor: notifications_router(
            monitor, SourceRateLimit(settings.notification_rate_limit_per_minute)
        ),
    )
    # The auth service asks for the holds to be released before it revokes a grant (0011).
    app.include_router(holds_router(connector.engine, principal_dependency(lambda: connector.verifier)))
    return app
