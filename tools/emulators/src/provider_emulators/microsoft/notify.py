"""Graph change and lifecycle notifications, delivered from background threads.

Delivery failures are counted and otherwise ignored, as Graph does after its retries.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any

import httpx

from provider_emulators.microsoft.state import MicrosoftState, StoredEvent, Subscription
from provider_emulators.microsoft.timeutil import graph_stamp, now


def change_payload(sub: Subscription, event: StoredEvent, change_type: str, tenant_id: str) -> dict[str, Any]:
    """One change notification in Graph's shape (``Users/{id}/Events/{id}`` resource)."""
    resource = f"Users/{sub.user_id}/Events/{event.id}"
    return {
        "value": [
            {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": graph_stamp(sub.expiration),
                "changeType": change_type,
                "resource": resource,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": resource,
                    "@odata.etag": f'W/"{event.change_key}"',
                    "id": event.id,
                },
                "clientState": sub.client_state,
                "tenantId": tenant_id,
            }
        ]
    }


def lifecycle_payload(sub: Subscription, lifecycle_event: str, tenant_id: str) -> dict[str, Any]:
    return {
        "value": [
            {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": graph_stamp(sub.expiration),
                "tenantId": tenant_id,
                "clientState": sub.client_state,
                "lifecycleEvent": lifecycle_event,
            }
        ]
    }


# The change notifications of the request being served, by notification URL, while a
# ``Notifier.gathered`` block runs (one ``$batch`` call); ``None`` outside one.
_GATHERED: ContextVar[dict[str, list[dict[str, Any]]] | None] = ContextVar("graph_gathered", default=None)
MAX_ITEMS_PER_POST = 100


class Notifier:
    """Posts notification payloads without blocking the request that caused them."""

    def __init__(self, state: MicrosoftState) -> None:
        self.state = state
        self._verify: bool | str = True
        self._context: ssl.SSLContext | None = None
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="graph-notify")
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    @property
    def verify(self) -> ssl.SSLContext:
        """The TLS context for https notification URLs (system CAs, or the configured CA file)."""
        if self._context is None:
            if isinstance(self._verify, str):
                self._context = ssl.create_default_context(cafile=self._verify)
            else:
                self._context = ssl.create_default_context()
        return self._context

    def trust(self, ca_path: str) -> None:
        """Trust ``ca_path`` (instead of the system CAs) for https notification URLs."""
        with self._lock:
            self._verify, self._context = ca_path, None
            self._client = None

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(verify=self.verify, timeout=10.0)
            return self._client

    def event_changed(self, event: StoredEvent, change_type: str) -> None:
        """Notify every live subscription on the mailbox owner's events."""
        user = self.state.user_by_email(event.mailbox)
        if user is None:
            return
        current = now()
        for sub in list(self.state.subscriptions.values()):
            if sub.user_id != user.id or sub.expiration <= current or change_type not in sub.change_types:
                continue
            payload = change_payload(sub, event, change_type, user.tenant_id)
            gathered = _GATHERED.get()
            if gathered is None:
                self.post(sub.notification_url, payload)
            else:
                gathered.setdefault(sub.notification_url, []).extend(payload["value"])

    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        """The change notifications of the changes made inside go out at the end, one POST per
        notification URL with every item in its ``value``, as Graph batches the notifications
        of changes that happen together (a ``$batch`` call's)."""
        pending: dict[str, list[dict[str, Any]]] = {}
        token = _GATHERED.set(pending)
        try:
            yield
        finally:
            _GATHERED.reset(token)
            for url, items in pending.items():
                for start in range(0, len(items), MAX_ITEMS_PER_POST):
                    self.post(url, {"value": items[start : start + MAX_ITEMS_PER_POST]})

    def post(self, url: str, payload: dict[str, Any]) -> None:
        try:
            self._executor.submit(self._deliver, url, payload)
        except RuntimeError:  # shutting down: the notification is lost, as a failed delivery
            self.state.counters.notifications_failed += 1

    def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        ok = False
        try:
            response = self._sync_client().post(url, json=payload)
            ok = response.status_code < 300
        except httpx.HTTPError:
            ok = False
        with self._lock:
            self.state.notification_log.append({"url": url, "payload": payload, "delivered": ok})
            if ok:
                self.state.counters.notifications_sent += 1
            else:
                self.state.counters.notifications_failed += 1

    async def post_now(self, url: str, payload: dict[str, Any]) -> int | None:
        """Deliver synchronously (for control calls); returns the receiver's status or ``None``."""
        try:
            async with httpx.AsyncClient(verify=self.verify, timeout=10.0) as client:
                response = await client.post(url, json=payload)
        except httpx.HTTPError:
            return None
        self.state.notification_log.append(
            {"url": url, "payload": payload, "delivered": response.status_code < 300}
        )
        return response.status_code

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()
