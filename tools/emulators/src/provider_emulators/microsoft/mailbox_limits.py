"""Per-mailbox concurrency accounting for Graph requests (Outlook allows 4 in flight per app).

The middleware records requests and the highest number in flight per mailbox. With
``enforce_mailbox_concurrency`` on, a request beyond the limit gets 429 ``ApplicationThrottled``
("MailboxConcurrency") with ``Retry-After``. Configured latency is added inside the window, so
slow responses overlap the way they would against a slow Outlook.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from provider_emulators.microsoft.context import Emulator
from provider_emulators.microsoft.errors import graph_error_body
from provider_emulators.microsoft.timeutil import now

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RETRY_AFTER_S = 1


def mailbox_of(emu: Emulator, scope: Scope) -> str | None:
    """The mailbox a Graph request works on: ``/users/{id}/…`` or the token's user for ``/me``."""
    parts = scope.get("path", "").split("/")
    if len(parts) > 3 and parts[2].lower() == "users":
        target = parts[3].lower()
        user = emu.state.users.get(parts[3]) or emu.state.user_by_email(target)
        return user.email if user else target
    headers = dict(scope.get("headers") or [])
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if not auth.lower().startswith("bearer "):
        return None
    record = emu.state.access_tokens.get(auth[7:].strip())
    if record is None or record.expires_at <= now():
        return None
    user = emu.state.users.get(record.user_id)
    return user.email if user else None


class MailboxConcurrencyMiddleware:
    def __init__(self, app: ASGIApp, emu: Emulator) -> None:
        self.app = app
        self.emu = emu

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v1.0/"):
            await self.app(scope, receive, send)
            return
        mailbox = mailbox_of(self.emu, scope)
        if mailbox is None:
            await self.app(scope, receive, send)
            return
        counters = self.emu.state.counters
        settings = self.emu.state.settings
        counters.requests_by_mailbox[mailbox] += 1
        counters.in_flight[mailbox] += 1
        counters.max_in_flight[mailbox] = max(counters.max_in_flight[mailbox], counters.in_flight[mailbox])
        try:
            if (
                settings.enforce_mailbox_concurrency
                and counters.in_flight[mailbox] > settings.mailbox_concurrency_limit
            ):
                counters.throttled[mailbox] += 1
                await _throttled(send)
                return
            if settings.graph_latency_ms:
                await asyncio.sleep(settings.graph_latency_ms / 1000)
            await self.app(scope, receive, send)
        finally:
            counters.in_flight[mailbox] -= 1


async def _throttled(send: Send) -> None:
    body = graph_error_body("ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
