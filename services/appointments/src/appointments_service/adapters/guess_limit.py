"""Wrong-guess lockouts for the reception check-in: six digits are few, so a tablet (or all of
a tenant's tablets together) that types too many wrong codes waits, longer each time.

In-process, like the guest rate limiter: each replica counts on its own, which bounds guessing
per replica; that is enough for a front-desk tablet typing by hand.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Record:
    misses: deque[float] = field(default_factory=deque)
    lockouts: int = 0
    locked_until: float = 0.0
    last_miss: float = 0.0


class GuessLimiter:
    """The ``allowed``-th wrong guess of a key within ``window`` seconds locks the key for
    ``base`` seconds, doubling with every further lockout up to ``cap``. The count
    of lockouts is forgotten once a key has been quiet (unlocked, no miss) for ``forget_after``."""

    def __init__(
        self,
        allowed: int,
        *,
        base: float,
        cap: float,
        window: float = 900.0,
        forget_after: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._allowed = allowed
        self._base = base
        self._cap = cap
        self._window = window
        self._forget_after = forget_after
        self._clock = clock
        self._max_keys = max_keys
        self._records: dict[str, _Record] = {}

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        record = self._records.get(key)
        return max(0.0, record.locked_until - self._clock()) if record else 0.0

    def missed(self, key: str) -> float:
        """Count a wrong guess; returns the lockout it started (0 if none)."""
        now = self._clock()
        record = self._records.get(key)
        if record is None or self._quiet(record, now):
            record = self._records[key] = _Record()
        while record.misses and now - record.misses[0] >= self._window:
            record.misses.popleft()
        record.misses.append(now)
        record.last_miss = now
        if len(record.misses) < self._allowed:
            self._bound(now)
            return 0.0
        record.misses.clear()
        record.lockouts += 1
        lockout = min(self._cap, self._base * 2 ** (record.lockouts - 1))
        record.locked_until = now + lockout
        return lockout

    def succeeded(self, key: str) -> None:
        """A right code: the wrong ones before it were typos (the lockout count stays)."""
        record = self._records.get(key)
        if record is not None:
            record.misses.clear()

    def _quiet(self, record: _Record, now: float) -> bool:
        return now - max(record.locked_until, record.last_miss) >= self._forget_after

    def _bound(self, now: float) -> None:
        if len(self._records) > self._max_keys:
            for key in [k for k, r in self._records.items() if self._quiet(r, now)]:
                del self._records[key]
