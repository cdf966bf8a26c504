"""Failure throttling for guessable credentials (the reception-token exchange, API sign-in).

Counts failed attempts per key (a client id, a client address) in this process. After
``max_failures`` failures a key is locked out for ``base_lockout`` seconds, doubling with every
further failure up to ``max_lockout``; a success clears the key. Attempts during a lockout are
refused before any secret is checked, so they cost nothing and teach nothing. Counters forget a
key ``max_lockout`` after its last failure. Per replica: with N replicas an attacker gets at most
N times the budget, still far below what guessing a 256-bit secret would need.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass
class FailureThrottle:
    max_failures: int = 5
    base_lockout: float = 30.0
    max_lockout: float = 900.0
    clock: Callable[[], float] = time.monotonic
    max_keys: int = 100_000
    _records: dict[str, _Record] = field(default_factory=dict)

    def retry_after(self, keys: Iterable[str]) -> int:
        """Seconds until every key may try again (0: go ahead)."""
        now = self.clock()
        waits = [self._records[k].locked_until - now for k in keys if k in self._records]
        wait = max(waits, default=0.0)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        self._forget_stale(now)
        for key in keys:
            record = self._records.setdefault(key, _Record())
            if now - record.last_failure > self.max_lockout:
                record.failures = 0  # quiet long enough: start counting afresh
            record.failures += 1
            record.last_failure = now
            over = record.failures - self.max_failures
            if over >= 0:
                record.locked_until = now + min(self.max_lockout, self.base_lockout * 2**over)

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def _forget_stale(self, now: float) -> None:
        if len(self._records) < self.max_keys:
            return
        stale = [k for k, r in self._records.items() if now - r.last_failure > self.max_lockout]
        for key in stale or list(self._records)[: self.max_keys // 10]:
            del self._records[key]
