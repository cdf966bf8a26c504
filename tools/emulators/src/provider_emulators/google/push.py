"""Delivery of push notifications (``web_hook`` channels) from a background thread.

Delivery failures are ignored, like Google does after its retries give up.
"""

from __future__ import annotations

import email.utils
import logging
import queue
import threading
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    address: str
    headers: dict[str, str]


def channel_headers(
    *,
    channel_id: str,
    token: str | None,
    resource_id: str,
    resource_uri: str,
    resource_state: str,
    message_number: int,
    expiration_ms: int,
) -> dict[str, str]:
    headers = {
        "X-Goog-Channel-ID": channel_id,
        "X-Goog-Resource-ID": resource_id,
        "X-Goog-Resource-URI": resource_uri,
        "X-Goog-Resource-State": resource_state,
        "X-Goog-Message-Number": str(message_number),
        "X-Goog-Channel-Expiration": email.utils.formatdate(expiration_ms / 1000, usegmt=True),
    }
    if token is not None:
        headers["X-Goog-Channel-Token"] = token
    return headers


class PushNotifier:
    """A queue drained by one daemon thread, so notifications keep their order."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._queue: queue.Queue[Notification | None] = queue.Queue()
        self._timeout_s = timeout_s
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    def send(self, notification: Notification) -> None:
        self._ensure_thread()
        self._queue.put(notification)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="google-push")
                self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout_s) as client:
            while (item := self._queue.get()) is not None:
                self._deliver(client, item)

    def _deliver(self, client: httpx.Client, item: Notification) -> None:
        try:
            client.post(item.address, headers=item.headers, content=b"")
            self.delivered += 1
        except Exception as exc:  # any failure: Google drops undeliverable notifications too
            self.failed += 1
            log.debug("push delivery to %s failed: %s", item.address, type(exc).__name__)

    def close(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(None)
                self._thread.join(timeout=5)
            self._thread = None
