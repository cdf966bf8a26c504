"""Microsoft Graph error bodies, classified into what the connector does about them.

Graph answers ``{"error": {"code", "message", "innerError": {"request-id", "date"}}}``. The
HTTP status alone is not enough (a 400 may be a resync demand on delta, a 403 may be missing
admin consent or a mailbox policy), so :func:`classify` looks at both.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx


class GraphErrorKind(StrEnum):
    THROTTLED = "throttled"  # 429, or 503 with Retry-After: wait, then retry
    UNAVAILABLE = "unavailable"  # 5xx / network: retry with backoff
    UNAUTHORIZED = "unauthorized"  # 401: refresh the token once
    FORBIDDEN = "forbidden"  # 403: missing permission / admin consent
    NOT_FOUND = "not_found"  # 404: the event (or room list) is gone
    RESYNC_REQUIRED = "resync_required"  # 410 on delta: start a full sync
    CONFLICT = "conflict"  # 409 / 412
    INVALID = "invalid"  # other 4xx: our request is wrong; retrying will not help


RETRIABLE_KINDS = frozenset({GraphErrorKind.THROTTLED, GraphErrorKind.UNAVAILABLE})
_THROTTLE_CODES = frozenset(
    {"toomanyrequests", "applicationthrottled", "mailboxconcurrency", "errorserverbusy"}
    | {"activitylimitreached"}
)
_RESYNC_CODES = frozenset(
    {"resyncrequired", "syncstatenotfound", "syncstateinvalid", "errorinvalidsyncstatedata"}
)


@dataclass(frozen=True)
class GraphErrorBody:
    code: str
    message: str
    request_id: str | None = None


class GraphApiError(Exception):
    """A Graph call that did not succeed (after the client's own retries, if any)."""

    def __init__(
        self,
        status: int,
        kind: GraphErrorKind,
        body: GraphErrorBody,
        *,
        retry_after: float | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(f"Graph {method} {path} -> {status} {body.code}: {body.message}")
        self.status = status
        self.kind = kind
        self.code = body.code
        self.message = body.message
        self.request_id = body.request_id
        self.retry_after = retry_after

    @property
    def retriable(self) -> bool:
        return self.kind in RETRIABLE_KINDS


def parse_error_body(payload: Any) -> GraphErrorBody:
    """Read Graph's error shape; tolerate anything else (proxies answer HTML)."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return GraphErrorBody(code="UnknownError", message="Graph answered without an error body")
    inner = error.get("innerError") or error.get("innererror") or {}
    request_id = inner.get("request-id") if isinstance(inner, dict) else None
    return GraphErrorBody(
        code=str(error.get("code") or "UnknownError"),
        message=str(error.get("message") or ""),
        request_id=str(request_id) if request_id else None,
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, parsed.timestamp() - current)


def classify(status: int, body: GraphErrorBody, retry_after: float | None) -> GraphErrorKind:
    code = body.code.lower()
    if status == 429 or code in _THROTTLE_CODES:
        return GraphErrorKind.THROTTLED
    if status == 503 and retry_after is not None:
        return GraphErrorKind.THROTTLED
    if status == 401:
        return GraphErrorKind.UNAUTHORIZED
    if status == 410 or code in _RESYNC_CODES:
        return GraphErrorKind.RESYNC_REQUIRED
    if status >= 500:
        return GraphErrorKind.UNAVAILABLE
    if status == 403:
        return GraphErrorKind.FORBIDDEN
    if status == 404:
        return GraphErrorKind.NOT_FOUND
    if status in (409, 412):
        return GraphErrorKind.CONFLICT
    return GraphErrorKind.INVALID


def error_from_response(response: httpx.Response) -> GraphApiError:
    try:
        payload: Any = response.json()
    except ValueError:
        payload = None
    body = parse_error_body(payload)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return GraphApiError(
        response.status_code,
        classify(response.status_code, body, retry_after),
        body,
        retry_after=retry_after,
        method=response.request.method,
        path=response.request.url.path,
    )


def network_error(error: httpx.HTTPError, method: str, path: str) -> GraphApiError:
    body = GraphErrorBody(code=type(error).__name__, message="Graph could not be reached")
    return GraphApiError(0, GraphErrorKind.UNAVAILABLE, body, method=method, path=path)
