"""``create_app(settings=None, **overrides)``: the Outlook connector wired together.

The Graph adapter (a plain transport under a per-mailbox concurrency limit, plus the mapping)
and its notification route, on the shared connector shape (``calendar_sync.adapters.service``):
it consumes ``topics.OUTLOOK_APPOINTMENTS`` (and its retry topic) in consumer group
``calendar-outlook``, watches connections for drift (Graph subscriptions, renewed in place,
and the polling fallback), and serves the rooms / availability API and the health routes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from calendar_outlook.adapters.graph.client import GraphClient
from calendar_outlook.adapters.graph.limiter import MailboxLimiter
from calendar_outlook.adapters.graph_provider import GraphCalendarProvider
from calendar_outlook.api.notifications import NOTIFICATION_PATH, notifications_router
from calendar_outlook.settings import Settings
from calendar_sync.adapters.holds import holds_router
from calendar_sync.adapters.ratelimit import SourceRateLimit
from calendar_sync.adapters.service import Connector, build_connector, connector_app, provider_http_client
from visitor_common.events import Provider
from visitor_common.persistence import DocumentStore
from visitor_common.web import principal_dependency


def build(settings: Settings, *, store: DocumentStore | None = None) -> Connector:
    http = provider_http_client(settings, max_connections=200)
    graph = GraphClient(
        http, base_url=settings.graph_base_url, limiter=MailboxLimiter(settings.mailbox_concurrency)
    )
    provider = GraphCalendarProvider(graph, delta_window_future=timedelta(days=settings.drift_window_days))
    return build_connector(
        settings,
        provider_kind=Provider.OUTLOOK,
        provider=provider,
        http=http,
        hooks=provider,  # Graph renews a subscription in place (PATCH)
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
        title="calendar-outlook",
        description="Microsoft Graph sync, getSchedule availability, room lists and drift detection.",
        notifications=lambda monitor: notifications_router(
            monitor, SourceRateLimit(settings.notification_rate_limit_per_minute)
        ),
    )
    # The auth service asks for the holds to be released before it revokes a grant (0011).
    app.include_router(holds_router(connector.engine, principal_dependency(lambda: connector.verifier)))
    return app
