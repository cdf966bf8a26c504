"""``POST /notifications/outlook``: Microsoft Graph change and lifecycle notifications.

- Subscription validation: Graph POSTs ``?validationToken=…`` and expects, within 10 seconds,
  ``200`` with the token echoed as ``text/plain``.
- Notifications: ``{"value": [{subscriptionId, clientState, changeType | lifecycleEvent, …}]}``.
  The route answers ``202`` at once (Graph wants an answer within 3 seconds) and handles each
  item in the background; an item whose ``clientState`` does not match its subscription is
  dropped (see ``DriftMonitor.handle_notification``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calendar_outlook.service_layer.drift import GraphNotification, handle_graph_notification
from calendar_sync.adapters.ratelimit import SourceRateLimit
from calendar_sync.engine.monitor import DriftMonitor
from visitor_common.web import ProblemError

log = logging.getLogger(__name__)

NOTIFICATION_PATH = "/notifications/outlook"
MAX_VALIDATION_TOKEN = 2048
MAX_ITEMS = 1000


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    subscription_id: str = Field(alias="subscriptionId", max_length=256)
    client_state: str | None = Field(None, alias="clientState", max_length=256)
    change_type: str | None = Field(None, alias="changeType")
    lifecycle_event: str | None = Field(None, alias="lifecycleEvent")
    resource_data: dict[str, Any] | None = Field(None, alias="resourceData")


class _Batch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: list[_Item] = Field(max_length=MAX_ITEMS)


def _notes(batch: _Batch) -> list[GraphNotification]:
    return [
        GraphNotification(
            subscription_id=item.subscription_id,
            client_state=item.client_state or "",
            change_type=item.change_type,
            lifecycle_event=item.lifecycle_event,
            event_id=str((item.resource_data or {}).get("id") or "") or None,
        )
        for item in batch.value
    ]


def notifications_router(monitor: DriftMonitor, limit: SourceRateLimit | None = None) -> APIRouter:
    """``limit``: the per-source allowance (none: unlimited, for tests of the handling alone)."""
    router = APIRouter(tags=["graph-notifications"])
    limit = limit or SourceRateLimit(0)
    background: set[asyncio.Task[None]] = set()

    async def handle(notes: list[GraphNotification], source: str) -> None:
        rejected: list[str] = []
        failed = 0
        for note in notes:
            try:
                if not await handle_graph_notification(monitor, note, log_rejection=False):
                    rejected.append(note.subscription_id)
            except Exception:
                failed += 1
                if failed == 1:  # the first one with its traceback; the count in the summary
                    log.exception("handling a Graph notification failed")
        if rejected or failed > 1:
            # One line per batch, however many bogus items it carried (a batch may hold 1,000).
            log.warning(
                "rejected Graph notification items",
                extra={
                    "source": source,
                    "items": len(notes),
                    "rejected": len(rejected),
                    "failed": failed,
                    "subscription_ids": sorted({s[:64] for s in rejected})[:5],
                },
            )

    @router.post(
        NOTIFICATION_PATH,
        status_code=202,
        summary="Microsoft Graph change notifications (and the subscription validation handshake)",
        responses={
            200: {"content": {"text/plain": {}}, "description": "Validation token echoed"},
            429: {"description": "Too many requests from this address; see Retry-After"},
        },
    )
    async def notifications(request: Request) -> Response:
        refusal = limit.refusal(request)
        if refusal is not None:
            return refusal
        token = request.query_params.get("validationToken")
        if token is not None:
            if len(token) > MAX_VALIDATION_TOKEN:
                raise ProblemError(400, "invalid_validation_token", "The validation token is too long")
            return PlainTextResponse(token, status_code=200, media_type="text/plain")
        try:
            batch = _Batch.model_validate_json(await request.body())
        except ValidationError as error:
            raise ProblemError(
                400,
                "invalid_notification",
                "Not a Graph notification batch",
                'Expected {"value": [{subscriptionId, clientState, ...}]}.',
            ) from error
        source = request.client.host if request.client else "unknown"
        task = asyncio.create_task(handle(_notes(batch), source))
        background.add(task)
        task.add_done_callback(background.discard)
        return Response(status_code=202)

    return router
