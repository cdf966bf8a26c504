"""``create_app``: settings, the sent-mail store, the SMTP sender, the consumers, all on the
shared :class:`~visitor_common.runtime.ServiceRuntime`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from notifications_service.adapters.sent_mail import SENT_MAIL, SentMailStore
from notifications_service.adapters.smtp import SmtpSender
from notifications_service.handlers.consumers import register_consumers
from notifications_service.service_layer.delivery import Clock, MailDelivery, RetryPolicy, Send
from notifications_service.service_layer.notify import NotificationService
from notifications_service.settings import Settings
from visitor_common.persistence import DocumentStore, create_document_store
from visitor_common.runtime import ServiceRuntime
from visitor_common.web import install_problem_handlers

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    *,
    store: DocumentStore | None = None,
    send: Send | None = None,
    clock: Clock = utc_now,
    **overrides: Any,
) -> FastAPI:
    """Build the service. ``send`` replaces SMTP (unit tests); ``overrides`` patch settings."""
    settings = settings or Settings()
    if overrides:
        settings = settings.model_copy(update=overrides)
    store = store or create_document_store(settings)
    sealer = settings.mail_sealer()
    if sealer is None:
        log.warning(
            "NOTIFICATIONS_MAIL_SEAL_KEYS unset: guest messages cannot be opened and are dead-lettered"
        )
    sent_mail = SentMailStore(store.collection(SENT_MAIL))
    smtp = SmtpSender(settings)  # connects on its first mail
    delivery = MailDelivery(
        sent_mail,
        send or smtp.send,
        sender=settings.mail_from,
        clock=clock,
        retry=RetryPolicy(settings.send_attempts, settings.retry_initial_seconds, settings.retry_max_seconds),
        lease=timedelta(seconds=settings.inflight_lease_seconds),
    )
    service = NotificationService(delivery, sealer, settings.zone, clock)

    runtime = ServiceRuntime.for_settings(settings, store)
    runtime.prepare(sent_mail.ensure_indexes)
    register_consumers(runtime.broker, service, settings)
    runtime.on_close(smtp.close)

    app = FastAPI(
        title="Notifications service",
        version="1.0.0",
        description="Mails guests and hosts about their visits; driven by the lifecycle and "
        "guest-message topics (no business routes).",
        lifespan=runtime.lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.sent_mail = sent_mail
    app.state.runtime = runtime
    install_problem_handlers(app)
    runtime.install_operations(app)
    return app
