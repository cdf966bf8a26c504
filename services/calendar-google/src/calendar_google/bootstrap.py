"""``create_app(settings=None, **overrides)``: the Google connector wired together.

The Google adapter (Calendar v3 + Admin SDK Directory over one pooled HTTPS client) and its
push-notification route, on the shared connector shape (``calendar_sync.adapters.service``):
it consumes ``topics.GOOGLE_APPOINTMENTS`` (and its retry topic) in consumer group
``calendar-google``, watches connections from ``topics.CONNECTIONS`` for drift, and serves the
rooms / availability API and the health routes.
"""

from __future__ import annotations

from calendar_google.adapters.batch import GoogleBatchCodec
from calendar_google.adapters.google_api import GoogleCalendarProvider
from calendar_google.api.notifications import NOTIFICATION_PATH, notifications_router
from calendar_google.settings import Settings
from calendar_sync.adapters.service import Connector, ConnectorAppSpec, build_connector, provider_http_client
from visitor_common.events import Provider
from visitor_common.persistence import DocumentStore


def build(settings: Settings, *, store: DocumentStore | None = None) -> Connector:
    batches = GoogleBatchCodec(settings.calendar_base_url) if settings.provider_batch_writes else None
    http = provider_http_client(settings, batches=batches)
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


create_app = ConnectorAppSpec(
    Settings,
    build,
    title="calendar-google",
    description="Google Calendar connector: rooms, availability and push notifications.",
    notifications=notifications_router,
).create_app
