"""``create_app(settings=None, **overrides)``: the Outlook connector wired together.

The Graph adapter (a plain transport under a per-mailbox concurrency limit, plus the mapping)
and its notification route, on the shared connector shape (``calendar_sync.adapters.service``):
it consumes ``topics.OUTLOOK_APPOINTMENTS`` (and its retry topic) in consumer group
``calendar-outlook``, watches connections for drift (Graph subscriptions, renewed in place,
and the polling fallback), and serves the rooms / availability API and the health routes.
"""

from __future__ import annotations

from datetime import timedelta

from calendar_outlook.adapters.graph.batch import GraphBatchCodec
from calendar_outlook.adapters.graph.client import API_VERSION, GraphClient
from calendar_outlook.adapters.graph_provider import GraphCalendarProvider
from calendar_outlook.api.notifications import NOTIFICATION_PATH, notifications_router
from calendar_outlook.settings import Settings
from calendar_sync.adapters.service import Connector, ConnectorAppSpec, build_connector, provider_http_client
from calendar_sync.engine.locks import KeyedLimiter
from visitor_common.events import Provider
from visitor_common.persistence import DocumentStore


def build(settings: Settings, *, store: DocumentStore | None = None) -> Connector:
    root = f"{settings.graph_base_url.rstrip('/')}/{API_VERSION}"
    batches = GraphBatchCodec(root) if settings.provider_batch_writes else None
    http = provider_http_client(settings, max_connections=200, batches=batches)
    graph = GraphClient(
        http, base_url=settings.graph_base_url, limiter=KeyedLimiter(settings.mailbox_concurrency)
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


create_app = ConnectorAppSpec(
    Settings,
    build,
    title="calendar-outlook",
    description="Microsoft Graph sync, getSchedule availability, room lists and drift detection.",
    notifications=notifications_router,
).create_app
