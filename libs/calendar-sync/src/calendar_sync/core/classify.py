"""One classification of a provider's failed HTTP answer into the engine's error taxonomy.

429, 403 ``rateLimitExceeded``/``userRateLimitExceeded`` and 5xx are transient (retried with
backoff, honouring ``Retry-After``); 401 means "refresh the token once and retry"; 409 on an
insert is an event that already exists (adopted when it is ours); 404/410 is a missing event, or
an invalid sync cursor when the provider says so; everything else is a permanent rejection.
Both provider adapters map every failure through :func:`classify_http`, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from calendar_sync.core.errors import (
    AccessTokenRejected,
    EventAlreadyExists,
    EventNotFound,
    ProviderError,
    ProviderRejected,
    SyncCursorInvalid,
    TransientProviderError,
)

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
# Graph answers 409 ErrorIrresolvableConflict when two writes to one item race; the next try wins.
RETRIABLE_CONFLICT_REASONS = frozenset({"ErrorIrresolvableConflict"})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify_http(
    status: int,
    reasons: Iterable[str] = (),
    *,
    message: str = "",
    retry_after: float | None = None,
    inserting: bool = False,
) -> ProviderError:
    """Map a provider's failed HTTP answer to the engine's error taxonomy."""
    reason_set = set(reasons)
    first = next(iter(sorted(reason_set)), None)
    text = message or f"provider answered {status}"
    if (
        status == 429
        or status >= 500
        or (status == 403 and reason_set & RATE_LIMIT_REASONS)
        or (status == 409 and reason_set & RETRIABLE_CONFLICT_REASONS)
    ):
        reason = next(iter(reason_set & (RATE_LIMIT_REASONS | RETRIABLE_CONFLICT_REASONS)), first)
        return TransientProviderError(text, status=status, reason=reason, retry_after=retry_after)
    if status == 401:
        return AccessTokenRejected(text, status=status, reason=first)
    if status == 409 and inserting:
        return EventAlreadyExists(text, status=status, reason=first)
    if status == 410 and reason_set & {"fullSyncRequired", "syncStateNotFound", "resyncRequired"}:
        return SyncCursorInvalid(text, status=status, reason=first)
    if status in (404, 410):
        return EventNotFound(text, status=status, reason=first)
    return ProviderRejected(text, status=status, reason=first)
