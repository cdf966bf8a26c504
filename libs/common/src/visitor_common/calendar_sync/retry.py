"""Retry policy: exponential backoff with full jitter, honouring ``Retry-After``, bounded.

Classification (``classify_http``) turns a provider's HTTP answer into the error taxonomy of
``errors``: 429, 403 ``rateLimitExceeded``/``userRateLimitExceeded`` and 5xx are transient;
401 means "refresh the token once and retry". ``call_with_retry`` runs one provider call under
the policy with an injectable ``sleep`` and random source (tests use a fake clock).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from visitor_common.calendar_sync.errors import (
    AccessTokenRejected,
    EventAlreadyExists,
    EventNotFound,
    ProviderError,
    ProviderRejected,
    SyncCursorInvalid,
    TransientProviderError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
Sleep = Callable[[float], Awaitable[None]]
Random = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` calls in all; waits ``uniform(0, min(max_delay, base_delay * 2**n))``
    after the n-th failure (full jitter), or the server's ``Retry-After`` when it is longer.
    A ``Retry-After`` above ``max_retry_after`` gives up at once (the retry topic waits)."""

    max_attempts: int = 6
    base_delay: float = 0.1
    max_delay: float = 5.0
    max_retry_after: float = 30.0

    def backoff(self, failures: int, rng: Random = random.random) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(failures - 1, 0)))
        return rng() * ceiling

    def delay(self, error: ProviderError, failures: int, rng: Random = random.random) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if not error.retriable or failures >= self.max_attempts:
            return None
        jitter = self.backoff(failures, rng)
        if error.retry_after is None:
            return jitter
        if error.retry_after > self.max_retry_after:
            return None
        return max(error.retry_after, jitter)


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
    if status == 429 or status >= 500 or (status == 403 and reason_set & RATE_LIMIT_REASONS):
        reason = next(iter(reason_set & RATE_LIMIT_REASONS), first)
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


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    rng: Random = random.random,
    what: str = "provider call",
) -> T:
    """Run ``call`` until it succeeds, fails permanently, or the policy gives up (the last
    error is raised). Only ``TransientProviderError`` is retried here."""
    failures = 0
    while True:
        try:
            return await call()
        except ProviderError as error:
            failures += 1
            wait = policy.delay(error, failures, rng)
            if wait is None:
                raise
            log.info(
                "retrying after a transient provider error",
                extra={"what": what, "status": error.status, "reason": error.reason, "wait": round(wait, 3)},
            )
            await sleep(wait)
