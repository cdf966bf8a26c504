"""Retry policy: exponential backoff with full jitter, honouring ``Retry-After``, bounded.

``call_with_retry`` runs one provider call under the policy with an injectable ``sleep`` and
random source (tests use a fake clock). Which failures are transient is decided once, by
``calendar_sync.core.classify``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from calendar_sync.core.errors import ProviderError

log = logging.getLogger(__name__)

T = TypeVar("T")

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
