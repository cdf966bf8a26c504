"""A per-source rate limit for the connectors' public notification endpoints.

Anyone can POST to ``/notifications/<provider>``; each item costs a store lookup (and a forged
one a log line), so requests are counted per client address in a fixed one-minute window and
the excess answered 429 with ``Retry-After``. The address is the peer, or the forwarded client
when the peer is one of ``<PREFIX>TRUSTED_PROXIES`` (``visitor_common.runner``). In-process, so
per replica. The providers post from a few addresses of their own: the default allowance is
generous, and a provider answered 429 retries later.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from fastapi import Request, Response

from visitor_common.web import Problem, problem_response

WINDOW_SECONDS = 60.0


class SourceRateLimit:
    """At most ``per_minute`` requests per client address per minute (0: unlimited)."""

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, max_sources: int = 100_000
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._max_sources = max_sources
        self._windows: dict[str, tuple[float, int]] = {}  # address -> (window start, count)
        self.refused = 0

    def wait(self, address: str) -> int:
        """Count one request; seconds to wait when over the allowance, else 0."""
        if self.per_minute <= 0:
            return 0
        now = self._clock()
        start, count = self._windows.get(address, (now, 0))
        if now - start >= WINDOW_SECONDS:
            start, count = now, 0
        if count >= self.per_minute:
            self.refused += 1
            return max(1, math.ceil(start + WINDOW_SECONDS - now))
        if address not in self._windows and len(self._windows) >= self._max_sources:
            self._forget_stale(now)
        self._windows[address] = (start, count + 1)
        return 0

    def refusal(self, request: Request) -> Response | None:
        """The 429 to answer for this request, or None to go ahead."""
        address = request.client.host if request.client else "unknown"
        wait = self.wait(address)
        if not wait:
            return None
        problem = Problem(
            status=429,
            code="rate_limited",
            title="Too many notifications from this address",
            detail=f"Try again in {wait} seconds.",
        )
        return problem_response(problem, {"Retry-After": str(wait)})

    def _forget_stale(self, now: float) -> None:
        stale = [a for a, (start, _) in self._windows.items() if now - start >= WINDOW_SECONDS]
        for address in stale or list(self._windows)[: self._max_sources // 10]:
            del self._windows[address]
