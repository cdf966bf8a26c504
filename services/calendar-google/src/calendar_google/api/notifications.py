"""``POST /notifications/google``: Google Calendar push notifications (web_hook channels).

Google sends no body, only ``X-Goog-*`` headers. The channel id must be one we opened and the
token the random one we gave it; otherwise the notification is refused and changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from calendar_sync.adapters.ratelimit import SourceRateLimit
from calendar_sync.engine import DriftMonitor, Notice
from visitor_common.web import ProblemError

NOTIFICATION_PATH = "/notifications/google"


def notifications_router(monitor: DriftMonitor, limit: SourceRateLimit | None = None) -> APIRouter:
    """``limit``: the per-source allowance (none: unlimited)."""
    router = APIRouter(tags=["notifications"])
    limit = limit or SourceRateLimit(0)

    @router.post(
        NOTIFICATION_PATH,
        status_code=204,
        summary="Google Calendar push notification",
        responses={
            403: {"description": "Unknown channel or wrong channel token"},
            429: {"description": "Too many requests from this address; see Retry-After"},
        },
    )
    async def google_notification(
        request: Request,
        channel_id: Annotated[str, Header(alias="X-Goog-Channel-ID")] = "",
        channel_token: Annotated[str, Header(alias="X-Goog-Channel-Token")] = "",
        resource_state: Annotated[str, Header(alias="X-Goog-Resource-State")] = "exists",
    ) -> Response:
        # "sync" is the handshake Google sends when a channel opens; "exists" / "not_exists" a change.
        refusal = limit.refusal(request)
        if refusal is not None:
            return refusal
        notice = Notice.HANDSHAKE if resource_state == "sync" else Notice.CHANGED
        if not await monitor.handle_notification(channel_id, channel_token, notice):
            raise ProblemError(403, "notification_rejected", "Unknown push channel or wrong channel token")
        return Response(status_code=204)

    return router
